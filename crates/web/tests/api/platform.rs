//! The server's surface: headers on every response, health, readiness, OpenAPI, 404s.

use reqwest::StatusCode;

use crate::helpers::spawn_app;
use crate::on_both;

on_both! {
    async fn every_response_carries_the_security_headers(kind: &str) {
        let app = spawn_app(kind).await;
        let mut b = app.browser();
        for path in ["/health", "/ready", "/sign-in", "/no-such-page", "/api/openapi.json", "/api/v1/me", "/static/tessera.css"] {
            let page = b.get(path).await;
            let h = &page.headers;
            let csp = h.get("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP")).to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
            assert!(h["strict-transport-security"].to_str().unwrap().starts_with("max-age="), "{path}");
            let cache = h["cache-control"].to_str().unwrap();
            if path.starts_with("/static/") {
                assert!(cache.starts_with("public"), "{path}: {cache}");
            } else {
                assert_eq!(cache, "no-store", "{path}");
            }
            assert!(h.contains_key("x-request-id"), "{path}");
        }
        assert_eq!(b.get("/no-such-page").await.status, StatusCode::NOT_FOUND);
        assert_eq!(b.get("/health").await.body, "ok");
        assert_eq!(b.get("/ready").await.body, "ready");
    }

    async fn pages_use_no_inline_script_or_style(kind: &str) {
        let app = spawn_app(kind).await;
        let mut b = app.browser();
        for path in ["/sign-in", "/no-such-page"] {
            let body = b.get(path).await.body;
            assert!(!body.contains("<script>") && !body.contains("style=") && !body.contains("<style"), "{path}");
            assert!(body.contains("/static/nhsuk/nhsuk-frontend.min.css"), "NHS.UK frontend served from our origin");
            assert!(!body.contains("https://"), "{path} loads nothing from elsewhere");
        }
        let css = b.get("/static/nhsuk/nhsuk-frontend.min.css").await;
        assert_eq!(css.status, StatusCode::OK);
        assert!(css.body.contains(".nhsuk-header"));
    }

    async fn the_openapi_document_describes_the_api(kind: &str) {
        let app = spawn_app(kind).await;
        let doc: serde_json::Value = serde_json::from_str(&app.browser().get("/api/openapi.json").await.body).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for path in ["/api/v1/session", "/api/v1/session/totp", "/api/v1/me", "/api/v1/sessions"] {
            assert!(doc["paths"].get(path).is_some(), "{path} documented");
        }
        // Every JSON route the application serves is in the document, with its method.
        let missing: Vec<String> = tessera_web::routes::route_table()
            .into_iter()
            .filter(|r| r.path.starts_with("/api/v1/"))
            .filter(|r| doc["paths"][r.path.as_str()].get(r.method.to_lowercase()).is_none())
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(missing.is_empty(), "API routes missing from the OpenAPI document: {missing:?}");
    }

    async fn forms_without_the_csrf_token_are_refused(kind: &str) {
        let app = spawn_app(kind).await;
        let mut b = app.browser();
        b.get("/sign-in").await;
        let r = b.post_raw("/sign-in", &[("email", "a@b.example"), ("password", "x")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.body.contains("This form has expired"));
        let r = b.post_raw("/sign-in", &[("csrf", "0000"), ("email", "a@b.example"), ("password", "x")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // Another browser's token does not work either.
        let mut other = app.browser();
        other.get("/sign-in").await;
        let stolen = other.csrf.clone();
        let r = b.post_raw("/sign-in", &[("csrf", &stolen), ("email", "a@b.example"), ("password", "x")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = b.post_json("/sign-in/passkey/start", serde_json::json!({})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "script endpoints need the header token too: {}", r.body);
    }
}
