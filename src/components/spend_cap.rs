//! Settings → "Monthly spending cap": an optional limit on what the person's own key may
//! spend in a calendar month, checked before each message is sent. Plain forms, so it works
//! before the WASM loads.

use crate::resource::resource;
use leptos::prelude::*;

use crate::{
    api::usage::{month_usage, SetSpendCap},
    components::post_form::PostForm,
    types::usage::{format_usd, UsageView},
};

#[component]
pub fn SpendCapCard(cap: ServerAction<SetSpendCap>) -> impl IntoView {
    let usage = resource(move || cap.version().get(), |_| month_usage(None));
    // The outcome of the latest save or removal, for a person and a screen reader.
    let outcome = move || {
        cap.value().get().map(|result| match result {
            Ok(view) => {
                let text = match view.cap_usd {
                    Some(usd) => format!("Cap saved: {} a month.", format_usd(usd)),
                    None => "Cap removed.".to_string(),
                };
                view! { <p class="notice" role="status">{text}</p> }.into_any()
            }
            Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <section class="card" aria-labelledby="spend-cap-heading">
            <h2 id="spend-cap-heading">"Monthly spending cap"</h2>
            <p class="hint">
                "Optional. Before each message ApexAurum adds what your own Anthropic key has spent this month (UTC) to the most the message could cost, and asks you first if that would pass your cap. "
                "Figures are estimates from list prices; Anthropic's bill is the final word. Answers on ApexAurum's key (Pro) are your plan's usage and are not counted here."
            </p>
            <Transition fallback=|| view! { <p class="loading" aria-live="polite">"Loading…"</p> }>
                {move || usage.get().map(|result| match result {
                    Ok(view) => view! { <CapForms view cap/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <div aria-live="polite">{outcome}</div>
        </section>
    }
}

#[component]
fn CapForms(view: UsageView, cap: ServerAction<SetSpendCap>) -> impl IntoView {
    let spent = format_usd(view.byok_cost_usd);
    let standing = match view.cap_usd {
        Some(limit) => format!(
            "Spent on your key this month: {spent} of your {} cap.",
            format_usd(limit)
        ),
        None => format!("No cap set. Spent on your key this month: {spent}."),
    };
    let current = view
        .cap_usd
        .map(|usd| format!("{usd:.2}"))
        .unwrap_or_default();
    let has_cap = view.cap_usd.is_some();
    view! {
        <p class="cap-standing">{standing}</p>
        <PostForm action=cap attr:class="cap-form">
            <label for="spend-cap">"Monthly cap in US dollars"</label>
            <div class="rename-row">
                <input
                    type="number"
                    id="spend-cap"
                    name="monthly_usd"
                    min="0"
                    max="1000000"
                    step="0.01"
                    inputmode="decimal"
                    required
                    value=current
                />
                <button type="submit" class="primary" disabled=cap.pending()>"Save cap"</button>
            </div>
        </PostForm>
        {has_cap.then(|| view! {
            <PostForm action=cap attr:class="inline-form">
                <input type="hidden" name="monthly_usd" value=""/>
                <button type="submit" class="danger" disabled=cap.pending()>"Remove cap"</button>
            </PostForm>
        })}
    }
}
