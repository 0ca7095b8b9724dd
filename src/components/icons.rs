//! The page's icons, as small inline SVG drawn in the text's colour (`currentColor`): emoji
//! and pictographs show as empty boxes where no emoji font is installed. Each is decorative
//! (`aria-hidden`): the text or the accessible name beside it says what it means.

use leptos::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icon {
    /// The brand's mark.
    Diamond,
    Plus,
    Key,
    Warning,
    Lightbulb,
    CheckCircle,
    Circle,
    Search,
    Copy,
    Check,
    Download,
    ChevronDown,
    ChevronUp,
}

impl Icon {
    /// The shapes inside a 24×24 view box (stroked, after Feather's and Lucide's style).
    fn shapes(self) -> &'static str {
        match self {
            Self::Diamond => {
                r#"<path d="M12 2 22 12 12 22 2 12Z" fill="currentColor" stroke="none"/>"#
            }
            Self::Plus => r#"<path d="M12 5v14M5 12h14"/>"#,
            Self::Key => {
                r#"<circle cx="7.5" cy="15.5" r="4.5"/><path d="M10.7 12.3 21 2M16 7l3 3M18.5 4.5l2 2"/>"#
            }
            Self::Warning => {
                r#"<path d="M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0Z"/><path d="M12 9v4M12 17h.01"/>"#
            }
            Self::Lightbulb => {
                r#"<path d="M9 18h6M10 22h4M12 2a7 7 0 0 0-4 12.7c.6.5 1 1.3 1 2.3h6c0-1 .4-1.8 1-2.3A7 7 0 0 0 12 2Z"/>"#
            }
            Self::CheckCircle => r#"<circle cx="12" cy="12" r="10"/><path d="m8 12 3 3 5-6"/>"#,
            Self::Circle => r#"<circle cx="12" cy="12" r="9"/>"#,
            Self::Search => r#"<circle cx="11" cy="11" r="7"/><path d="m21 21-5-5"/>"#,
            Self::Copy => {
                r#"<rect x="9" y="9" width="12" height="12" rx="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/>"#
            }
            Self::Check => r#"<path d="M20 6 9 17l-5-5"/>"#,
            Self::Download => r#"<path d="M12 3v12M7 10l5 5 5-5M4 21h16"/>"#,
            Self::ChevronDown => r#"<path d="m6 9 6 6 6-6"/>"#,
            Self::ChevronUp => r#"<path d="m18 15-6-6-6 6"/>"#,
        }
    }

    /// The icon as HTML, for markup built as a string (the answers' Markdown).
    pub fn html(self) -> String {
        format!("<svg {ATTRIBUTES}>{}</svg>", self.shapes())
    }
}

const ATTRIBUTES: &str = r#"class="icon" viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false""#;

/// A decorative icon, sized by the text around it (CSS `.icon`).
#[component]
pub fn IconSvg(icon: Icon, #[prop(optional)] class: &'static str) -> impl IntoView {
    let class = if class.is_empty() {
        "icon".to_string()
    } else {
        format!("icon {class}")
    };
    view! {
        <svg
            class=class
            viewBox="0 0 24 24"
            width="16"
            height="16"
            fill="none"
            stroke="currentColor"
            stroke-width="2"
            stroke-linecap="round"
            stroke-linejoin="round"
            aria-hidden="true"
            focusable="false"
            inner_html=icon.shapes()
        ></svg>
    }
}

#[cfg(test)]
mod tests {
    use super::Icon;

    #[test]
    fn icons_are_decorative_svg_in_the_texts_colour() {
        let html = Icon::Copy.html();
        assert!(html.starts_with("<svg "));
        assert!(html.contains("aria-hidden=\"true\""));
        assert!(html.contains("stroke=\"currentColor\""));
        assert!(html.ends_with("</svg>"));
    }
}
