//! Registry network allowlists: a registry's grants work only from its ranges, and
//! `X-Forwarded-For` is believed only from trusted proxies (never falling back to the proxy's
//! own address).

use reqwest::StatusCode;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::records::{person, world};

/// The status of the caller's records search page, from the test's loopback address, with an
/// optional `X-Forwarded-For` header.
async fn search_page(app: &TestApp, session: &str, forwarded: Option<&str>) -> StatusCode {
    let mut request = reqwest::Client::new()
        .get(format!("{}/registries/tst/records/search", app.base))
        .header("cookie", format!("__Host-tessera-session={session}"));
    if let Some(f) = forwarded {
        request = request.header("x-forwarded-for", f);
    }
    request.send().await.unwrap().status()
}

/// A submitter of the test registry, signed in; returns their session cookie.
async fn submitter(app: &TestApp) -> String {
    world(app).await;
    let (mut op, _) = app.operator().await;
    let (b, _) = person(app, &mut op, "ann@a.example", "submitter", "RAA").await;
    b.session_cookie().expect("a session")
}

async fn restrict(app: &TestApp, ranges: &[&str]) {
    let by = app.store.user_by_email("ann@a.example").await.unwrap().unwrap().id;
    let ranges: Vec<(String, String)> = ranges.iter().map(|r| ((*r).to_owned(), "Health network".to_owned())).collect();
    app.store.set_networks("tst", &ranges, &by, app.clock.now(), &[]).await.unwrap();
}

crate::on_both! {
    async fn behind_a_trusted_proxy_only_the_allowlisted_client_address_gets_in(kind: &str) {
        let app = spawn_app_with(kind, |s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
        let session = submitter(&app).await;
        assert_eq!(search_page(&app, &session, None).await, StatusCode::OK, "no allowlist: any address");
        restrict(&app, &["10.0.0.0/8"]).await;
        assert_eq!(search_page(&app, &session, Some("10.1.2.3")).await, StatusCode::OK);
        assert_eq!(search_page(&app, &session, Some("192.0.2.7")).await, StatusCode::NOT_FOUND);
        // The client wrote the left entry; the proxy appended the address it saw.
        assert_eq!(search_page(&app, &session, Some("10.1.2.3, 192.0.2.7")).await, StatusCode::NOT_FOUND);
        // No header, or one that does not parse: the proxy's own address never stands in.
        assert_eq!(search_page(&app, &session, None).await, StatusCode::NOT_FOUND);
        assert_eq!(search_page(&app, &session, Some("x, 10.1.2.3")).await, StatusCode::OK);
        assert_eq!(search_page(&app, &session, Some("10.1.2.3, x")).await, StatusCode::NOT_FOUND);
        // Lifting the restriction applies at once.
        restrict(&app, &[]).await;
        assert_eq!(search_page(&app, &session, Some("192.0.2.7")).await, StatusCode::OK);
    }

    async fn without_trusted_proxies_a_forwarded_for_header_is_ignored(kind: &str) {
        let app = spawn_app(kind).await;
        let session = submitter(&app).await;
        restrict(&app, &["10.0.0.0/8"]).await;
        assert_eq!(search_page(&app, &session, Some("10.1.2.3")).await, StatusCode::NOT_FOUND);
        restrict(&app, &["127.0.0.0/8"]).await;
        assert_eq!(search_page(&app, &session, Some("192.0.2.7")).await, StatusCode::OK);
    }
}
