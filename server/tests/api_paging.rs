//! Builds and releases through the API, a keyset page at a time: every row
//! once, newest first, the `Link` header naming the next page until the
//! last; a bad cursor or limit is a 400 that says which.

mod common;

use common::{build_request, copy_demo_artifact, sha, Auth, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

/// Follows `Link: <…>; rel="next"` from `first`; each page's ids.
async fn pages(server: &TestServer, auth: &Auth, first: &str) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next.take() {
        let reply = server.get(&path, auth).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        let ids: Vec<i64> = reply
            .json()
            .as_array()
            .expect("a list")
            .iter()
            .map(|row| row["id"].as_i64().expect("an id"))
            .collect();
        pages.push(ids);
        next = reply.header("link").map(|link| {
            link.strip_prefix('<')
                .and_then(|l| l.split_once(">; rel=\"next\""))
                .map(|(path, _)| path.to_owned())
                .unwrap_or_else(|| panic!("not a next link: {link}"))
        });
        assert!(pages.len() < 20, "the pages never end: {pages:?}");
    }
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_and_releases_page_by_keyset_until_the_last() {
    let server = TestServer::start().await;
    let admin = server.login().await;
    let reader = server.token_for("admin", "read");
    for n in 0..5 {
        let artifact = copy_demo_artifact(server.data_dir(), &format!("paging/app-{n}.tar.gz"));
        let body = build_request("demo", &sha(&format!("paging {n}")), &artifact);
        let reply = server.post_json("/api/builds", &admin, &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }
    // The demo's two builds and these five, newest first, two at a time.
    let builds = pages(&server, &reader, "/api/apps/demo/builds?limit=2").await;
    assert_eq!(builds, vec![vec![7, 6], vec![5, 4], vec![3, 2], vec![1]]);
    let all = pages(&server, &reader, "/api/apps/demo/builds").await;
    assert_eq!(all, vec![vec![7, 6, 5, 4, 3, 2, 1]]);

    for build in [1, 2, 3] {
        let job = server.deploy(&admin, build).await;
        let done: Value = server.wait_job_finished(&admin, job).await;
        assert_eq!(done["job"]["state"], "succeeded", "{done}");
    }
    let releases = pages(
        &server,
        &reader,
        "/api/apps/demo/envs/demo/releases?limit=2",
    )
    .await;
    assert_eq!(releases.concat().len(), 3, "{releases:?}");
    assert_eq!(releases.len(), 2, "{releases:?}");
    let flat = releases.concat();
    assert!(
        flat.windows(2).all(|w| w[0] > w[1]),
        "newest first: {flat:?}"
    );

    for (query, says) in [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?before=abc", "before"),
        ("?page=2", "page"),
    ] {
        for path in ["/api/apps/demo/builds", "/api/apps/demo/envs/demo/releases"] {
            let reply = server.get(&format!("{path}{query}"), &reader).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{path}{query}: {}",
                reply.text
            );
            assert!(
                reply.error().contains(says),
                "{path}{query}: {}",
                reply.text
            );
        }
    }
    let reply = server.get("/api/apps/nowhere/builds", &reader).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
}
