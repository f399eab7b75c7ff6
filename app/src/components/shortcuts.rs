//! Keyboard shortcuts for the frequent moves: `g` then a letter goes to a
//! page, `/` focuses the page's search (or first) field, `?` shows them
//! all. Keys typed into a field are the field's, not shortcuts.

use leptos::prelude::*;

/// `g` + key → page.
pub const GO_TO: [(&str, &str, &str); 6] = [
    ("e", "/", "environments"),
    ("b", "/builds", "builds"),
    ("r", "/requests", "requests"),
    ("t", "/timeline", "the release timeline"),
    ("a", "/audit", "the audit log"),
    ("k", "/tokens", "your API tokens"),
];

/// The list `?` shows (hidden until then), and the key handling (in the
/// browser).
#[component]
pub fn Shortcuts() -> impl IntoView {
    let open = RwSignal::new(false);
    listen(open);
    view! {
        <div class="shortcuts" class:hidden=move || !open.get() id="shortcuts" role="dialog" aria-label="Keyboard shortcuts">
            <h2>"Keyboard shortcuts"</h2>
            <dl>
                {GO_TO.into_iter().map(|(key, _, page)| view! {
                    <dt><kbd>"g"</kbd>" "<kbd>{key}</kbd></dt><dd>{format!("go to {page}")}</dd>
                }).collect_view()}
                <dt><kbd>"/"</kbd></dt><dd>"search (the page's first field)"</dd>
                <dt><kbd>"?"</kbd></dt><dd>"show or hide this list"</dd>
                <dt><kbd>"Esc"</kbd></dt><dd>"hide it"</dd>
            </dl>
        </div>
    }
}

#[cfg(feature = "hydrate")]
fn listen(open: RwSignal<bool>) {
    use std::cell::Cell;
    use std::rc::Rc;
    use wasm_bindgen::JsCast;

    let pending_g = Rc::new(Cell::new(false));
    let navigate = leptos_router::hooks::use_navigate();
    let handle = window_event_listener(leptos::ev::keydown, move |ev: web_sys::KeyboardEvent| {
        if ev.ctrl_key() || ev.meta_key() || ev.alt_key() || ev.default_prevented() {
            return;
        }
        let typing = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| {
                matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                    || el.has_attribute("contenteditable")
            });
        if typing {
            pending_g.set(false);
            return;
        }
        let key = ev.key();
        if pending_g.replace(false) {
            if let Some((_, path, _)) = GO_TO.iter().find(|(k, _, _)| *k == key) {
                ev.prevent_default();
                navigate(path, Default::default());
            }
            return;
        }
        match key.as_str() {
            "g" => pending_g.set(true),
            "?" => {
                ev.prevent_default();
                open.update(|o| *o = !*o);
            }
            "Escape" => open.set(false),
            "/" => {
                ev.prevent_default();
                focus_search();
            }
            _ => {}
        }
    });
    on_cleanup(move || handle.remove());
}

#[cfg(not(feature = "hydrate"))]
fn listen(_open: RwSignal<bool>) {}

/// Focuses the page's search field (`[data-search]`), else its first field.
#[cfg(feature = "hydrate")]
fn focus_search() {
    use wasm_bindgen::JsCast;
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let field = document
        .query_selector("main [data-search]")
        .ok()
        .flatten()
        .or_else(|| {
            document
                .query_selector("main input:not([type=hidden]), main select")
                .ok()
                .flatten()
        });
    if let Some(field) = field.and_then(|f| f.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = field.focus();
    }
}
