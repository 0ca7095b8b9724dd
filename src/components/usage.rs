//! Settings → "Usage this month": answers, tokens, cost and cache savings per model and in
//! total, from the usage ledger, priced with the operator's price table (an estimate).

use crate::resource::resource;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    api::usage::{month_usage, SetSpendCap},
    types::usage::{format_usd, ModelUsage, UsageView},
};

#[component]
pub fn UsageCard(cap: ServerAction<SetSpendCap>) -> impl IntoView {
    // `?month=YYYY-MM` shows another month (the picker below is a plain GET form).
    let query = use_query_map();
    let month = move || query.with(|q| q.get("month")).filter(|m| !m.is_empty());
    let usage = resource(
        move || (cap.version().get(), month()),
        |(_, month)| month_usage(month),
    );
    let heading = move || match month() {
        Some(m) => format!("Usage in {m}"),
        None => "Usage this month".to_string(),
    };
    view! {
        <section class="card" aria-labelledby="usage-heading">
            <h2 id="usage-heading">{heading}</h2>
            <Transition fallback=|| view! { <p class="loading" aria-live="polite">"Loading usage…"</p> }>
                {move || usage.get().map(|result| match result {
                    Ok(view) if view.models.is_empty() => view! { <p class="muted">"No answers in this month."</p> }.into_any(),
                    Ok(view) => view! { <UsageSummary view/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <form method="get" action="/settings" class="month-form">
                <label for="usage-month">"Show month"</label>
                <input type="month" id="usage-month" name="month" value=move || month().unwrap_or_default()/>
                <button type="submit">"Show"</button>
            </form>
            <p class="hint usage-note">
                "Costs are estimates from ApexAurum's price table (Anthropic's list prices), counted from the answers stored here, by calendar month (UTC). "
                "Answers on your own key are billed to it by Anthropic; answers on ApexAurum's key count toward your plan's usage."
            </p>
        </section>
    }
}

#[component]
fn UsageSummary(view: UsageView) -> impl IntoView {
    let paid_by = match (view.byok_cost_usd > 0.0, view.platform_cost_usd > 0.0) {
        (true, true) => Some(format!(
            "{} on your key (Anthropic bills you), {} counted toward your plan",
            format_usd(view.byok_cost_usd),
            format_usd(view.platform_cost_usd)
        )),
        (false, true) => Some("All of it counted toward your plan's usage".to_string()),
        (true, false) => Some("All of it on your key: Anthropic bills you".to_string()),
        (false, false) => None,
    };
    view! {
        <dl class="facts usage-totals">
            <dt>"Estimated cost"</dt>
            <dd class="usage-cost">{format_usd(view.cost_usd)}</dd>
            <dt>"Saved by prompt caching"</dt>
            <dd class="usage-saved">{format_usd(view.saved_usd)}</dd>
        </dl>
        {paid_by.map(|text| view! { <p class="muted">{text}"."</p> })}
        <UsageTable rows=view.models/>
    }
}

#[component]
fn UsageTable(rows: Vec<ModelUsage>) -> impl IntoView {
    let money = |usd: Option<f64>| usd.map_or_else(|| "no price".to_string(), format_usd);
    view! {
        <div class="table-scroll">
            <table class="usage-table">
                <caption class="visually-hidden">"Usage this month per model"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Model"</th>
                        <th scope="col" class="num">"Answers"</th>
                        <th scope="col" class="num">"Input tokens"</th>
                        <th scope="col" class="num">"Cache write / read"</th>
                        <th scope="col" class="num">"Output tokens"</th>
                        <th scope="col" class="num">"Cost"</th>
                        <th scope="col" class="num">"Saved"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| view! {
                        <tr>
                            <th scope="row"><code>{row.model}</code></th>
                            <td class="num">{group_digits(row.answers)}</td>
                            <td class="num">{group_digits(row.input_tokens)}</td>
                            <td class="num">{format!("{} / {}", group_digits(row.cache_creation_input_tokens), group_digits(row.cache_read_input_tokens))}</td>
                            <td class="num">{group_digits(row.output_tokens)}</td>
                            <td class="num">{money(row.cost_usd)}</td>
                            <td class="num">{money(row.saved_usd)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// `1234567` → `1,234,567`.
pub fn group_digits(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::group_digits;

    #[test]
    fn digits_are_grouped_in_threes() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(1234567), "1,234,567");
        assert_eq!(group_digits(-4200), "-4,200");
    }
}
