use leptos::prelude::*;

use crate::functions::session::get_me;
use crate::model::Me;

/// Renders `children` only for a signed-in person whose role `allows` it,
/// so a page does not offer a form its reader would be refused. The server
/// decides again on every action.
#[component]
pub fn IfAllowed(allows: fn(&Me) -> bool, children: ChildrenFn) -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    let children = StoredValue::new(children);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let allowed = matches!(me.await, Ok(Some(me)) if allows(&me));
                allowed.then(|| children.with_value(|children| children()))
            })}
        </Suspense>
    }
}
