//! Settings → API Keys → Key activity: what happened to the key (saved, tested, refused
//! during a chat, removed, re-encrypted after a secret rotation) and when. Read again
//! whenever the key panel saves, tests or removes.

use crate::resource::resource;
use leptos::prelude::*;

use crate::{
    api::api_keys::key_activity, components::api_key_panel::KeyActions, util::relative_time,
};

/// How many of the latest events are listed.
const SHOWN: usize = 10;

#[component]
pub fn KeyActivity(actions: KeyActions) -> impl IntoView {
    let KeyActions { save, remove, test } = actions;
    let events = resource(
        move || {
            (
                save.version().get(),
                remove.version().get(),
                test.version().get(),
            )
        },
        |_| key_activity(),
    );
    view! {
        <div class="key-activity" role="region" aria-labelledby="key-activity-heading">
            <h3 id="key-activity-heading" class="subheading">"Key activity"</h3>
            <Transition fallback=|| view! { <p class="loading">"Loading key activity…"</p> }>
                {move || events.get().map(|result| match result {
                    Ok(events) if events.is_empty() => view! {
                        <p class="muted">"Nothing yet. Saving, testing and removing your key are listed here."</p>
                    }.into_any(),
                    Ok(events) => {
                        let now = crate::util::now_unix();
                        let total = events.len();
                        view! {
                            <ol class="activity-list">
                                {events.into_iter().take(SHOWN).map(|event| {
                                    let when = relative_time(&event.created_at, now);
                                    let text = event.describe();
                                    view! {
                                        <li>
                                            <time datetime=event.created_at.clone() title=event.created_at>{when}</time>
                                            " · "
                                            <span>{text}</span>
                                        </li>
                                    }
                                }).collect_view()}
                            </ol>
                            {(total > SHOWN).then(|| view! {
                                <p class="hint">{format!("The latest {SHOWN} of {total} events.")}</p>
                            })}
                        }.into_any()
                    }
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </div>
    }
}
