//! Settings → "Usage this month": answers and tokens per model, from the stored answers.

use leptos::prelude::*;

use crate::{api::chat::usage_this_month, types::chat::UsageRow};

#[component]
pub fn UsageCard() -> impl IntoView {
    let usage = Resource::new(|| (), |_| usage_this_month());
    view! {
        <section class="card" aria-labelledby="usage-heading">
            <h2 id="usage-heading">"Usage this month"</h2>
            <Transition fallback=|| view! { <p class="loading" aria-live="polite">"Loading usage…"</p> }>
                {move || usage.get().map(|result| match result {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted">"No answers yet this month."</p> }.into_any(),
                    Ok(rows) => view! { <UsageTable rows/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <p class="hint usage-note">"Counted from the answers stored here; Anthropic bills your key directly."</p>
        </section>
    }
}

#[component]
fn UsageTable(rows: Vec<UsageRow>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="usage-table">
                <thead>
                    <tr>
                        <th scope="col">"Model"</th>
                        <th scope="col" class="num">"Answers"</th>
                        <th scope="col" class="num">"Input tokens"</th>
                        <th scope="col" class="num">"Output tokens"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| view! {
                        <tr>
                            <th scope="row"><code>{row.model}</code></th>
                            <td class="num">{group_digits(row.answers)}</td>
                            <td class="num">{group_digits(row.input_tokens)}</td>
                            <td class="num">{group_digits(row.output_tokens)}</td>
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
