use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::errors::{ActionError, ErrorBox};
use crate::functions::access::{get_users, SetRole};
use crate::model::UserRow;

/// Admins: everyone who has signed in (or was created), their groups, and their role.
#[component]
pub fn UsersPage() -> impl IntoView {
    let set_role = ServerAction::<SetRole>::new();
    let users = Resource::new(move || set_role.version().get(), |_| get_users());
    view! {
        <Title text="Users" />
        <h1>"Users"</h1>
        <p class="muted">
            "Viewers read everything (audit included); deployers deploy, roll back and lock; admins manage "
            "environments, users and settings. Protected environments take deploys only from admins and their named deployers."
        </p>
        <ActionError value=set_role.value() />
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(users) => view! { <UsersTable users set_role /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn UsersTable(users: Vec<UserRow>, set_role: ServerAction<SetRole>) -> impl IntoView {
    view! {
        <table class="users">
            <thead><tr><th>"Login"</th><th>"Name"</th><th>"Groups"</th><th>"Last sign-in"</th><th>"Role"</th></tr></thead>
            <tbody>
                {users.into_iter().map(|u| {
                    let role = u.role.clone();
                    let login = u.login.clone();
                    let row_login = u.login.clone();
                    view! {
                        <tr data-user=row_login>
                            <td>{u.login}</td>
                            <td>{u.display_name.clone()}</td>
                            <td>{u.groups.join(", ")}</td>
                            <td>{u.last_login_at.clone().unwrap_or_else(|| "never".into())}</td>
                            <td>
                                <ActionForm action=set_role attr:class="inline">
                                    <input type="hidden" name="login" value=login />
                                    <select name="role">
                                        {["viewer", "deployer", "admin"].into_iter().map(|r| view! {
                                            <option value=r selected=r == role>{r}</option>
                                        }).collect_view()}
                                    </select>
                                    <button type="submit">"Set role"</button>
                                </ActionForm>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
