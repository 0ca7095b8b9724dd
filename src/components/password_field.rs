use leptos::prelude::*;

/// A labelled secret input with a Show/Hide toggle (the toggle needs the app hydrated or,
/// on the pages that ship no WASM, `public/forms.js`; without either the field simply stays
/// hidden).
#[component]
pub fn PasswordField(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    autocomplete: &'static str,
    #[prop(optional)] minlength: Option<u32>,
    #[prop(optional)] describedby: Option<&'static str>,
    #[prop(optional)] autofocus: bool,
) -> impl IntoView {
    let visible = RwSignal::new(false);
    view! {
        <label for=id>{label}</label>
        <div class="password-field">
            <input
                id=id
                name=name
                type=move || if visible.get() { "text" } else { "password" }
                autocomplete=autocomplete
                minlength=minlength
                aria-describedby=describedby
                spellcheck="false"
                autofocus=autofocus
                autocapitalize="off"
                required
            />
            <button
                type="button"
                class="ghost toggle"
                aria-controls=id
                aria-pressed=move || visible.get().to_string()
                on:click=move |_| visible.update(|v| *v = !*v)
            >
                {move || if visible.get() { "Hide" } else { "Show" }}
            </button>
        </div>
    }
}
