//! "What changes": the commits a deploy brings (or a rollback takes away)
//! and the settings and variables that differ from the live release's.

use leptos::prelude::*;

use crate::components::when::When;

use crate::model::{short_sha, ChangesInfo, CommitInfo, SettingDiff, VarDiff};

#[component]
pub fn WhatChanged(changes: ChangesInfo) -> impl IntoView {
    let ChangesInfo {
        from_build,
        from_sha,
        to_build,
        to_sha: _,
        removes,
        commits,
        total,
        source,
        source_note,
        complete,
        settings,
        variables,
    } = changes;
    let headline = match (from_build, total) {
        (None, _) => "Nothing was live before: this is the first release.".to_owned(),
        (Some(from), _) if from == to_build => "The same build as the live one.".to_owned(),
        (Some(_), 0) if source == "nothing" => "The same commit as the live build.".to_owned(),
        (Some(from), n) => {
            let commits = if n == 1 { "commit" } else { "commits" };
            let more = if complete { "" } else { " at least" };
            if removes {
                format!("Takes away{more} {n} {commits} of build #{from} (live now).")
            } else {
                format!("Brings{more} {n} {commits} since build #{from} (live now).")
            }
        }
    };
    let listed = commits.len();
    let from_short = from_sha.as_deref().map(short_sha).unwrap_or("").to_owned();
    view! {
        <div class="what-changed" data-total=total data-source=source.clone() data-removes=removes.to_string()>
            <p class="changes-headline">{headline}</p>
            {(source != "nothing").then(|| view! {
                <p class="muted changes-source">
                    "Listed "{source_note}
                    {(!complete).then(|| format!(
                        "; they do not reach back to {from_short}, so there may be more"
                    ))}
                    "."
                </p>
            })}
            {(!commits.is_empty()).then(|| view! {
                <table class="commits">
                    <tbody>
                        {commits.into_iter().map(|c| view! { <CommitRow c /> }).collect_view()}
                    </tbody>
                </table>
            })}
            {(total > listed).then(|| view! { <p class="muted">"…and "{total - listed}" more."</p> })}
            <SettingsDiff settings variables />
        </div>
    }
}

#[component]
fn CommitRow(c: CommitInfo) -> impl IntoView {
    let short = short_sha(&c.sha).to_owned();
    let sha = match c.link {
        Some(href) => {
            view! { <a href=href rel="noopener noreferrer"><code>{short}</code></a> }.into_any()
        }
        None => view! { <code>{short}</code> }.into_any(),
    };
    view! {
        <tr data-sha=c.sha.clone()>
            <td>{sha}</td>
            <td class="subject">{c.subject}</td>
            <td class="muted">{c.author}</td>
            <td class="muted">{c.committed_at.map(|at| view! { <When at /> })}</td>
        </tr>
    }
}

#[component]
fn SettingsDiff(
    settings: Option<Vec<SettingDiff>>,
    variables: Option<Vec<VarDiff>>,
) -> impl IntoView {
    let (Some(settings), Some(variables)) = (settings, variables) else {
        return view! {
            <p class="muted settings-diff">"No snapshot of the live release's settings to compare with (it is older than snapshots, or nothing is live)."</p>
        }
        .into_any();
    };
    if settings.is_empty() && variables.is_empty() {
        return view! { <p class="muted settings-diff">"Settings and variables: the same as the live release's."</p> }
            .into_any();
    }
    view! {
        <table class="settings-diff">
            <thead><tr><th>"Setting or variable"</th><th>"Change"</th><th>"Before"</th><th>"After"</th></tr></thead>
            <tbody>
                {settings.into_iter().map(|s| {
                    let change = match (&s.before, &s.after) {
                        (None, _) => "added",
                        (_, None) => "removed",
                        _ => "changed",
                    };
                    let name = s.name.clone();
                    view! {
                        <tr data-setting=name>
                            <td><code>{s.name}</code></td>
                            <td>{change}</td>
                            <td><code>{s.before.unwrap_or_default()}</code></td>
                            <td><code>{s.after.unwrap_or_default()}</code></td>
                        </tr>
                    }
                }).collect_view()}
                {variables.into_iter().map(|v| {
                    let (before, after) = if v.secret {
                        let hidden = |side: bool| if side { "(secret)".to_owned() } else { String::new() };
                        (hidden(v.change != "added"), hidden(v.change != "removed"))
                    } else {
                        (v.before.unwrap_or_default(), v.after.unwrap_or_default())
                    };
                    let (name, change) = (v.name.clone(), v.change.clone());
                    view! {
                        <tr data-var=name data-change=change>
                            <td><code>"$"{v.name}</code>{v.secret.then(|| view! { " "<span class="badge">"secret"</span> })}</td>
                            <td>{v.change}</td>
                            <td><code>{before}</code></td>
                            <td><code>{after}</code></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
