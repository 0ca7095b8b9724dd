//! The Agents, from one data file (`src/agents.toml`, built in; `agents-file` in
//! Leptos.toml points at an operator's copy).

use std::path::Path;

use serde::Deserialize;

use crate::{domain::ModelName, types::chat::AgentView};

const BUILT_IN: &str = include_str!("../agents.toml");

#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Checked when the file is read: a file naming no Claude model does not load.
    pub model: ModelName,
    pub system: String,
}

#[derive(Debug, Clone)]
pub struct Agents(Vec<Agent>);

#[derive(Deserialize)]
struct File {
    agent: Vec<AgentEntry>,
}

/// An `[[agent]]` as written, before its model name is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentEntry {
    id: String,
    name: String,
    description: String,
    model: String,
    system: String,
}

impl Agents {
    /// Parses an agents file; the first Agent is the default.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.message().to_string())?;
        if file.agent.is_empty() {
            return Err("it defines no [[agent]]".into());
        }
        for a in &file.agent {
            if a.id.is_empty()
                || !a
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(format!(
                    "agent id {:?} must be lower-case letters, digits or -",
                    a.id
                ));
            }
        }
        let agents = file
            .agent
            .into_iter()
            .map(|a| {
                let model = ModelName::try_from(a.model.clone())
                    .map_err(|_| format!("agent {:?} has an invalid model {:?}", a.id, a.model))?;
                Ok(Agent {
                    id: a.id,
                    name: a.name,
                    description: a.description,
                    model,
                    system: a.system,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self(agents))
    }

    pub fn built_in() -> Self {
        Self::parse(BUILT_IN).expect("the built-in agents file is valid")
    }

    /// The built-in Agents, or those of `path` when given.
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        match path {
            None => Ok(Self::built_in()),
            Some(path) => super::config::read_operator_file(path, Self::parse),
        }
    }

    pub fn default_agent(&self) -> &Agent {
        &self.0[0]
    }

    pub fn get(&self, id: &str) -> Option<&Agent> {
        self.0.iter().find(|a| a.id == id)
    }

    pub fn views(&self) -> Vec<AgentView> {
        self.0
            .iter()
            .map(|a| AgentView {
                id: a.id.clone(),
                name: a.name.clone(),
                description: a.description.clone(),
                model: a.model.to_string(),
            })
            .collect()
    }

    pub fn default_models(&self) -> Vec<String> {
        let mut models: Vec<String> = self.0.iter().map(|a| a.model.to_string()).collect();
        models.dedup();
        models
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_agents_are_the_four_with_azoth_first() {
        let agents = Agents::built_in();
        let ids: Vec<_> = agents.views().into_iter().map(|a| a.id).collect();
        assert_eq!(ids, ["azoth", "elysian", "vajra", "kether"]);
        assert_eq!(agents.default_agent().name, "AZOTH");
        assert!(agents.get("vajra").unwrap().system.contains("VAJRA"));
    }

    #[test]
    fn a_broken_file_says_what_is_wrong() {
        assert!(Agents::parse("").unwrap_err().contains("agent"));
        let bad = "[[agent]]\nid = \"Bad Id\"\nname = \"x\"\ndescription = \"x\"\nmodel = \"claude-x\"\nsystem = \"x\"\n";
        assert!(Agents::parse(bad).unwrap_err().contains("Bad Id"));
        let bad_model = bad.replace("Bad Id", "ok").replace("claude-x", "gpt-4");
        let refused = Agents::parse(&bad_model).unwrap_err();
        assert!(
            refused.contains("invalid model") && refused.contains("gpt-4"),
            "{refused}"
        );
    }
}
