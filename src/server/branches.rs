//! A conversation as a tree of messages: regenerated answers and edited messages are
//! siblings (the same parent), never replacements. What a person sees, and what Anthropic
//! is sent, is one path through the tree.
//!
//! Which path: every message records when it was last *chosen* among its siblings
//! (`selected_at`: when it was stored, or picked with the version switcher, which also
//! marks every message above it). From the roots down, the path takes the most recently
//! chosen child at each step. This per-message choice, rather than one "current leaf" per
//! conversation, is what lets flipping back to an earlier version of a message bring back
//! exactly the turns the person last saw under it (a single leaf would have to guess which
//! of that version's descendants to show), costs a new message no second write (being the
//! newest, it is the chosen one), and keeps an answer that lands on a branch the person
//! has since flipped away from from pulling the view back to it.

use std::collections::HashMap;

use super::db::MessageRow;
use crate::types::chat::Siblings;

/// The messages of one conversation, indexed as a tree.
pub struct Tree<'a> {
    rows: &'a [MessageRow],
    by_id: HashMap<&'a str, usize>,
    /// Children of each parent (`None`: the roots), oldest first.
    children: HashMap<Option<&'a str>, Vec<usize>>,
}

impl<'a> Tree<'a> {
    pub fn new(rows: &'a [MessageRow]) -> Self {
        let by_id: HashMap<&str, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        let mut children: HashMap<Option<&str>, Vec<usize>> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            // A parent that is not there (never, with the foreign key) makes a root.
            let parent = row
                .parent_id
                .as_deref()
                .filter(|p| by_id.contains_key(p) && *p != row.id);
            children.entry(parent).or_default().push(i);
        }
        for list in children.values_mut() {
            list.sort_by(|&a, &b| {
                (rows[a].created_at, &rows[a].id).cmp(&(rows[b].created_at, &rows[b].id))
            });
        }
        Self {
            rows,
            by_id,
            children,
        }
    }

    pub fn get(&self, id: &str) -> Option<&'a MessageRow> {
        self.by_id.get(id).map(|&i| &self.rows[i])
    }

    fn parent_of(&self, i: usize) -> Option<&'a str> {
        self.rows[i]
            .parent_id
            .as_deref()
            .filter(|p| self.by_id.contains_key(p) && *p != self.rows[i].id)
    }

    /// The most recently chosen of `options` (ties: the newest).
    fn chosen(&self, options: &[usize]) -> Option<usize> {
        options.iter().copied().max_by(|&a, &b| {
            let key = |i: usize| {
                let r = &self.rows[i];
                (r.selected_at, r.created_at, &r.id)
            };
            key(a).cmp(&key(b))
        })
    }

    /// The path shown and continued: from the roots, the chosen child at every step.
    pub fn current_path(&self) -> Vec<&'a MessageRow> {
        let mut path = Vec::new();
        let mut at: Option<&str> = None;
        while let Some(next) = self
            .children
            .get(&at)
            .and_then(|options| self.chosen(options))
        {
            // A cycle (never, with ids that are fresh UUIDs) must not loop forever.
            if path.len() >= self.rows.len() {
                break;
            }
            path.push(&self.rows[next]);
            at = Some(self.rows[next].id.as_str());
        }
        path
    }

    /// The messages from the first one down to `id` itself, whatever is chosen: what an
    /// answer to `id` is given as the conversation so far. `None` when `id` is not here.
    pub fn chain_to(&self, id: &str) -> Option<Vec<&'a MessageRow>> {
        let mut i = *self.by_id.get(id)?;
        let mut chain = vec![&self.rows[i]];
        while let Some(parent) = self.parent_of(i) {
            if chain.len() >= self.rows.len() {
                break;
            }
            i = self.by_id[parent];
            chain.push(&self.rows[i]);
        }
        chain.reverse();
        Some(chain)
    }

    /// Where `id` stands among its versions.
    pub fn siblings(&self, id: &str) -> Siblings {
        let Some(&i) = self.by_id.get(id) else {
            return Siblings::default();
        };
        let empty = Vec::new();
        let list = self.children.get(&self.parent_of(i)).unwrap_or(&empty);
        let index = list.iter().position(|&j| j == i).unwrap_or(0);
        let id_at = |k: Option<usize>| {
            k.and_then(|k| list.get(k))
                .map(|&j| self.rows[j].id.clone())
        };
        Siblings {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            count: u32::try_from(list.len().max(1)).unwrap_or(u32::MAX),
            prev_id: id_at(index.checked_sub(1)),
            next_id: id_at(Some(index + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    /// A message `id` following `parent`, stored `at` seconds in and chosen then.
    fn msg(id: &str, parent: Option<&str>, role: &str, at: i64) -> MessageRow {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(at);
        MessageRow {
            id: id.into(),
            role: role.into(),
            content: id.into(),
            model: None,
            incomplete: false,
            input_tokens: None,
            output_tokens: None,
            created_at: t,
            payer: None,
            parent_id: parent.map(String::from),
            selected_at: t,
        }
    }

    fn ids(path: &[&MessageRow]) -> Vec<String> {
        path.iter().map(|m| m.id.clone()).collect()
    }

    /// u1 → a1, a1' (regenerated); a1 → u2 → a2; and u1' (an edit of u1) → a3.
    fn tree_rows() -> Vec<MessageRow> {
        vec![
            msg("u1", None, "user", 1),
            msg("a1", Some("u1"), "assistant", 2),
            msg("u2", Some("a1"), "user", 3),
            msg("a2", Some("u2"), "assistant", 4),
            msg("a1b", Some("u1"), "assistant", 5),
            msg("u1b", None, "user", 6),
            msg("a3", Some("u1b"), "assistant", 7),
        ]
    }

    #[test]
    fn a_chain_is_its_own_path_with_one_version_each() {
        let rows = vec![
            msg("u1", None, "user", 1),
            msg("a1", Some("u1"), "assistant", 2),
            msg("u2", Some("a1"), "user", 3),
        ];
        let tree = Tree::new(&rows);
        assert_eq!(ids(&tree.current_path()), ["u1", "a1", "u2"]);
        assert_eq!(tree.siblings("a1"), Siblings::default());
        assert_eq!(ids(&tree.chain_to("a1").unwrap()), ["u1", "a1"]);
        assert!(tree.chain_to("nope").is_none());
    }

    #[test]
    fn the_path_follows_the_newest_choice_at_every_step() {
        let rows = tree_rows();
        let tree = Tree::new(&rows);
        // The edit u1b is the newest root: its branch is shown.
        assert_eq!(ids(&tree.current_path()), ["u1b", "a3"]);
        assert_eq!(
            tree.siblings("u1b"),
            Siblings {
                index: 1,
                count: 2,
                prev_id: Some("u1".into()),
                next_id: None,
            }
        );
        assert_eq!(
            tree.siblings("a1"),
            Siblings {
                index: 0,
                count: 2,
                prev_id: None,
                next_id: Some("a1b".into()),
            }
        );
        // Whatever is chosen, an answer to u2 sees the turns above it.
        assert_eq!(ids(&tree.chain_to("u2").unwrap()), ["u1", "a1", "u2"]);
    }

    #[test]
    fn choosing_an_old_version_brings_back_the_turns_last_seen_under_it() {
        let mut rows = tree_rows();
        // The person flips to u1 (selecting marks it and everything above it): under u1,
        // the regenerated a1b is still the most recently chosen answer.
        rows[0].selected_at += Duration::seconds(100);
        let tree = Tree::new(&rows);
        assert_eq!(ids(&tree.current_path()), ["u1", "a1b"]);
        // Then to a1, the first answer: its continuation u2 → a2 comes back with it.
        rows[1].selected_at += Duration::seconds(200);
        rows[0].selected_at += Duration::seconds(200);
        let tree = Tree::new(&rows);
        assert_eq!(ids(&tree.current_path()), ["u1", "a1", "u2", "a2"]);
    }

    #[test]
    fn a_missing_parent_or_a_loop_never_hangs_or_loses_a_message() {
        let rows = vec![
            msg("x", Some("gone"), "user", 1),
            msg("y", Some("y"), "assistant", 2),
        ];
        let tree = Tree::new(&rows);
        assert_eq!(ids(&tree.current_path()), ["y"]);
        assert_eq!(tree.siblings("x").count, 2);
        assert_eq!(ids(&tree.chain_to("x").unwrap()), ["x"]);
        assert!(Tree::new(&[]).current_path().is_empty());
    }
}
