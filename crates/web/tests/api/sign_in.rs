//! Sign-in: identical refusals, throttling and lockout, sessions and their limits, step-up.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{BrowserExt as _, GOOD_PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::on_both;

/// Signs in through the API with password and TOTP; returns the browser.
async fn api_sign_in(app: &TestApp, email: &str, seed: &[u8]) -> crate::helpers::Browser {
    let mut b = app.browser();
    let r = b.post_json("/api/v1/session", json!({ "email": email, "password": GOOD_PASSWORD })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, r#"{"stage":"mfa"}"#);
    let code = app.next_code(seed);
    let r = b.post_json("/api/v1/session/totp", json!({ "code": code })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    b
}

on_both! {
    async fn refusals_are_byte_identical_for_unknown_wrong_and_locked(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        let (_, _) = app.member(&mut op, "locked@trust.example", "Lou Locked").await;
        let id = app.store.user_by_email("locked@trust.example").await.unwrap().unwrap().id;
        for _ in 0..100 {
            app.store.record_sign_in_failure(&id, app.clock.now(), |_| 0, 100, &[], &[]).await.unwrap();
        }
        let mut b = app.browser();
        b.get("/sign-in").await;
        let cases = [
            ("nobody@trust.example", GOOD_PASSWORD),       // unknown address
            ("olivia@ops.example", "wrong password words"), // wrong password
            ("locked@trust.example", GOOD_PASSWORD),        // locked, right password
        ];
        let mut pages = Vec::new();
        let mut api = Vec::new();
        for (email, password) in cases {
            let p = b.post("/sign-in", &[("email", email), ("password", password)]).await;
            pages.push((p.status, p.body));
            let a = b.post_json("/api/v1/session", json!({ "email": email, "password": password })).await;
            let mut headers: Vec<(String, String)> = a
                .headers
                .iter()
                .filter(|(k, _)| *k != "date" && *k != "x-request-id")
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                .collect();
            headers.sort();
            api.push((a.status, headers, a.body));
        }
        assert_eq!(pages[0].0, StatusCode::UNAUTHORIZED);
        assert!(pages[0].1.contains("The email address or password is not right"));
        assert_eq!(pages[0], pages[1], "unknown address vs wrong password (page)");
        assert_eq!(pages[0], pages[2], "unknown address vs locked account (page)");
        assert_eq!(api[0], api[1], "unknown address vs wrong password (API)");
        assert_eq!(api[0], api[2], "unknown address vs locked account (API)");
    }

    async fn a_hundred_failures_lock_the_account_until_a_reset(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        let (_, seed) = app.member(&mut op, "target@trust.example", "Tara Target").await;
        let mut attacker = app.browser();
        for i in 1..=100 {
            let r = attacker.post_json("/api/v1/session", json!({ "email": "target@trust.example", "password": format!("guess number {i}") })).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            // The progressive delay: wait it out on the settable clock before the next guess.
            app.clock.advance(tessera_auth::AccountSettings::delay_after(i));
        }
        let user = app.store.user_by_email("target@trust.example").await.unwrap().unwrap();
        assert_eq!(user.failed_attempts, 100);
        assert!(user.locked);
        let mut owner = app.browser();
        let r = owner.post_json("/api/v1/session", json!({ "email": "target@trust.example", "password": GOOD_PASSWORD })).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the right password no longer opens a locked account");
        app.clock.advance(86_400);
        let r = owner.post_json("/api/v1/session", json!({ "email": "target@trust.example", "password": GOOD_PASSWORD })).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "locked is not a timeout");
        // An operator-started reset unlocks it.
        op.sign_in(&app, "olivia@ops.example", &app_seed_of_operator(&app)).await;
        op.get("/admin/users").await;
        let r = op.post("/admin/users/reset", &[("user", &user.id)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let link = app.link_for("target@trust.example");
        let token = link.rsplit('/').next().unwrap().to_owned();
        let mut b = app.browser();
        b.get(&link[link.find("/reset/").unwrap()..]).await;
        let pw = "carousel meadow pepper 19";
        assert_eq!(b.post("/reset", &[("token", &token), ("password", pw), ("confirmation", pw)]).await.location(), Some("/sign-in?done=reset"));
        let r = owner.post_json("/api/v1/session", json!({ "email": "target@trust.example", "password": pw })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let code = app.next_code(&seed);
        assert_eq!(owner.post_json("/api/v1/session/totp", json!({ "code": code })).await.status, StatusCode::OK);
    }

    async fn failures_delay_the_next_attempt(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, seed) = app.operator().await;
        op.post("/sign-out", &[]).await;
        let mut b = app.browser();
        for i in 0..5 {
            let r = b.post_json("/api/v1/session", json!({ "email": "olivia@ops.example", "password": format!("wrong {i}") })).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        // Five failures: the next attempt, even with the right password, must wait a second.
        let r = b.post_json("/api/v1/session", json!({ "email": "olivia@ops.example", "password": GOOD_PASSWORD })).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        app.clock.advance(1);
        let b = api_sign_in(&app, "olivia@ops.example", &seed).await;
        assert_eq!(app.store.user_by_email("olivia@ops.example").await.unwrap().unwrap().failed_attempts, 0);
        drop(b);
    }

    async fn one_address_is_limited_across_accounts(kind: &str) {
        let app = spawn_app_with(kind, |s| s.address_limit = 20).await;
        let (_op, seed) = app.operator().await;
        let mut b = app.browser();
        for i in 0..20 {
            b.post_json("/api/v1/session", json!({ "email": format!("user{i}@trust.example"), "password": "spray spray spray" })).await;
        }
        let r = b.post_json("/api/v1/session", json!({ "email": "olivia@ops.example", "password": GOOD_PASSWORD })).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the address is over its limit");
        app.clock.advance(3600);
        api_sign_in(&app, "olivia@ops.example", &seed).await;
    }

    async fn an_idle_session_is_refused_and_an_active_one_lasts_twelve_hours(kind: &str) {
        let app = spawn_app(kind).await;
        let (_op, seed) = app.operator().await;
        let mut b = api_sign_in(&app, "olivia@ops.example", &seed).await;
        assert_eq!(b.get("/api/v1/me").await.status, StatusCode::OK);
        app.clock.advance(29 * 60);
        assert_eq!(b.get("/api/v1/me").await.status, StatusCode::OK, "29 minutes idle is fine");
        app.clock.advance(30 * 60 + 1);
        assert_eq!(b.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED, "over 30 minutes idle is not");
        // Kept busy, a session still ends 12 hours after sign-in.
        let mut b = api_sign_in(&app, "olivia@ops.example", &seed).await;
        for _ in 0..(12 * 60 / 20) {
            app.clock.advance(20 * 60);
            if b.get("/api/v1/me").await.status != StatusCode::OK {
                break;
            }
        }
        assert_eq!(b.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
        let row_count = app.store.user_sessions(&app.store.users().await.unwrap()[0].id).await.unwrap().len();
        assert!(row_count <= 2, "refused sessions are deleted, not kept");
    }

    async fn sign_out_ends_the_session_on_the_server(kind: &str) {
        let app = spawn_app(kind).await;
        let (_op, seed) = app.operator().await;
        let mut b = api_sign_in(&app, "olivia@ops.example", &seed).await;
        let stolen = b.session_cookie().unwrap();
        assert_eq!(b.delete("/api/v1/session").await.status, StatusCode::NO_CONTENT);
        let mut thief = app.browser();
        thief.cookies.insert("__Host-tessera-session".into(), stolen);
        assert_eq!(thief.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    }

    async fn every_sign_in_gets_a_new_session_id(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, seed) = app.operator().await;
        let before = op.session_cookie().unwrap();
        op.get("/sign-in").await;
        op.post("/sign-in", &[("email", "olivia@ops.example"), ("password", GOOD_PASSWORD)]).await;
        let after = op.session_cookie().unwrap();
        assert_ne!(before, after);
        let mut old = app.browser();
        old.cookies.insert("__Host-tessera-session".into(), before);
        assert_eq!(old.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED, "the old id is dead");
        let cookie = op.get("/sign-in/verify").await;
        let set = app.browser();
        drop((cookie, set, seed));
        // The cookie's attributes.
        let mut b = app.browser();
        let r = b.post_json("/api/v1/session", json!({ "email": "olivia@ops.example", "password": GOOD_PASSWORD })).await;
        let set_cookie = r.headers["set-cookie"].to_str().unwrap();
        assert!(set_cookie.starts_with("__Host-tessera-session="));
        for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(set_cookie.contains(attr), "{set_cookie}");
        }
        let value = b.session_cookie().unwrap();
        assert_eq!(value.len(), 43, "256 random bits, base64url");
        let stored = app.store.user_sessions(&app.store.users().await.unwrap()[0].id).await.unwrap();
        assert!(stored.iter().all(|s| s.id_hash != value && !s.id_hash.contains(&value)), "only the hash is stored");
    }

    async fn people_see_and_end_their_own_sessions(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, seed) = app.operator().await;
        let mut laptop = api_sign_in(&app, "olivia@ops.example", &seed).await;
        let sessions: serde_json::Value = serde_json::from_str(&laptop.get("/api/v1/sessions").await.body).unwrap();
        assert_eq!(sessions.as_array().unwrap().len(), 2);
        let laptop_id = sessions.as_array().unwrap().iter().find(|s| s["current"] == true).unwrap()["id"].as_str().unwrap().to_owned();
        let page = op.get("/account").await;
        assert!(page.body.contains(&laptop_id));
        op.post("/account/sessions/end", &[("id", &laptop_id)]).await;
        assert_eq!(laptop.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
        assert!(op.get("/account").await.status == StatusCode::OK);
    }

    async fn sensitive_acts_need_a_recent_second_factor(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, seed) = app.operator().await;
        app.clock.advance(6 * 60);
        op.get("/admin/invitations").await;
        let r = op.post("/admin/invitations", &[("email", "x@trust.example"), ("name", "Xavier X")]).await;
        assert_eq!(r.location(), Some("/step-up?next=/admin/invitations"));
        assert!(app.emails().iter().all(|(t, _, _)| !t.contains("x@trust.example")), "nothing sent without step-up");
        op.get("/step-up?next=/admin/invitations").await;
        let code = app.next_code(&seed);
        let r = op.post("/step-up", &[("code", &code), ("next", "/admin/invitations")]).await;
        assert_eq!(r.location(), Some("/admin/invitations"));
        op.get("/admin/invitations").await;
        let r = op.post("/admin/invitations", &[("email", "x@trust.example"), ("name", "Xavier X")]).await;
        assert!(r.body.contains("The invitation has been sent"));
        // An open redirect is not possible through step-up.
        op.get("/step-up?next=//evil.example").await;
        let code = app.next_code(&seed);
        let r = op.post("/step-up", &[("code", &code), ("next", "//evil.example")]).await;
        assert_eq!(r.location(), Some("/"));
    }

    async fn guessing_the_second_factor_is_delayed_like_passwords(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, seed) = app.operator().await;
        op.post("/sign-out", &[]).await;
        let mut b = app.browser();
        b.get("/sign-in").await;
        b.post("/sign-in", &[("email", "olivia@ops.example"), ("password", GOOD_PASSWORD)]).await;
        b.get("/sign-in/verify").await;
        for _ in 0..5 {
            b.post("/sign-in/verify", &[("code", "000000")]).await;
        }
        // Five wrong codes: even the right code waits out the delay.
        let code = app.next_code(&seed);
        app.clock.advance(-30);
        let r = b.post("/sign-in/verify", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        app.clock.advance(31);
        let code = app.next_code(&seed);
        assert_eq!(b.post("/sign-in/verify", &[("code", &code)]).await.location(), Some("/"));
    }

    async fn only_operators_reach_the_operator_pages(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        let (mut member, _) = app.member(&mut op, "m@trust.example", "Mo Member").await;
        for path in ["/admin/invitations", "/admin/users"] {
            assert_eq!(member.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
        }
        let mut anonymous = app.browser();
        assert_eq!(anonymous.get("/admin/users").await.location(), Some("/sign-in"));
    }
}

/// The operator's TOTP seed is not kept by `operator()` callers in every test; tests that need
/// it again re-derive it from the stored factor through the service.
fn app_seed_of_operator(app: &TestApp) -> Vec<u8> {
    app.operator_seed.lock().unwrap().clone()
}
