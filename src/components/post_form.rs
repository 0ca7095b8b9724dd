//! A form posted to a server function: by the browser, as any form, without JavaScript (the
//! server answers with the page, an error carried in its address; see `ServerAction::new`),
//! and by the page with it (the action dispatched: no page load, its `pending` and `value`
//! shown in place).
//!
//! Leptos' `ActionForm` does the same, but reads the form's fields with serde_qs, a query
//! string parser built for nested fields (`a[b][0]=…`), and with its deserializer compiled
//! once per form. These forms' fields are flat, a name and a string each (every argument of
//! the server functions they post to is a string), so serde's own map deserializer reads
//! them, over the pairs the browser would have posted: serde_qs stays out of the WASM.

use leptos::{
    html,
    prelude::*,
    server_fn::{codec::PostUrl, Http, ServerFn},
};
use serde::de::DeserializeOwned;

/// A `<form method="post">` to `action`'s server function, dispatching `action` when the
/// page submits it. Its children are the form's fields and buttons; `attr:class` and other
/// attributes go on the `<form>`.
#[component]
pub fn PostForm<S, O>(
    action: ServerAction<S>,
    /// The `<form>` element, for a page that resets it, say.
    #[prop(optional)]
    node_ref: Option<NodeRef<html::Form>>,
    children: Children,
) -> impl IntoView
where
    S: DeserializeOwned + ServerFn<Protocol = Http<PostUrl, O>> + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
    O: 'static,
{
    let node_ref = node_ref.unwrap_or_default();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        if ev.default_prevented() {
            return;
        }
        ev.prevent_default();
        match submitted(&ev).and_then(read::<S>) {
            Some(input) => {
                action.dispatch(input);
            }
            // Not a form of ours, or fields these arguments do not read: let the browser
            // post it, and the server answer (a page load, as without JavaScript).
            None => {
                if let Some(form) = node_ref.get_untracked() {
                    let _ = form.submit();
                }
            }
        }
    };
    view! {
        <form method="post" action=S::PATH node_ref=node_ref on:submit=on_submit>
            {children()}
        </form>
    }
}

/// The fields a submit event's form posts, as the browser encodes them: each named field,
/// and the button that submitted it when it has a name.
fn submitted(ev: &leptos::ev::SubmitEvent) -> Option<String> {
    use leptos::wasm_bindgen::JsCast as _;
    use leptos::web_sys::{FormData, HtmlButtonElement, HtmlFormElement, UrlSearchParams};
    let form = ev.target()?.dyn_into::<HtmlFormElement>().ok()?;
    let data = FormData::new_with_form(&form).ok()?;
    if let Some(button) = ev
        .submitter()
        .and_then(|s| s.dyn_into::<HtmlButtonElement>().ok())
    {
        if !button.name().is_empty() {
            data.append_with_str(&button.name(), &button.value()).ok()?;
        }
    }
    let params = UrlSearchParams::new_with_str_sequence_sequence(&data).ok()?;
    Some(String::from(params.to_string()))
}

/// A server function's arguments from a form's fields (`name=value&…`, as browsers encode
/// them): each argument a string of the field of its name. None when they do not fit. The
/// encoded fields are wiped once read (a password or a key may be among them).
fn read<S: DeserializeOwned>(mut query: String) -> Option<S> {
    use serde::de::{value::Error, value::MapDeserializer};
    use zeroize::Zeroize as _;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    query.zeroize();
    S::deserialize(MapDeserializer::<_, Error>::new(pairs.into_iter())).ok()
}

#[cfg(test)]
mod tests {
    use super::read;
    use crate::secret_text::SecretText;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Rename {
        id: String,
        title: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Nothing {}

    #[derive(Deserialize)]
    struct Key {
        api_key: SecretText,
    }

    #[test]
    fn fields_are_read_by_name_as_browsers_encode_them() {
        assert_eq!(
            read::<Rename>("title=Plans+%26+%C3%A9t%C3%A9&id=c-1".into()),
            Some(Rename {
                id: "c-1".into(),
                title: "Plans & été".into()
            })
        );
        assert_eq!(read::<Nothing>(String::new()), Some(Nothing {}));
        let key = read::<Key>("api_key=sk-ant-api03-x%2By".into()).unwrap();
        assert!(key.api_key == SecretText::from("sk-ant-api03-x+y".to_string()));
    }

    #[test]
    fn fields_that_do_not_fit_are_none() {
        assert_eq!(read::<Rename>("id=c-1".into()), None, "a field missing");
        assert_eq!(
            read::<Rename>("id=c-1&id=c-2&title=t".into()),
            None,
            "a field twice"
        );
    }
}
