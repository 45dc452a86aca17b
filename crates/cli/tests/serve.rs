//! Two `tessera serve` processes on one PostgreSQL database, as behind a load balancer: a
//! session made on one works on the other, and signing out on one ends it on both.

mod common;

use common::{Server, ok, tessera};
use serde_json::json;
use tessera_testkit::TestDb;
use tessera_testkit::http::{Browser, between};

const PASSWORD: &str = "granite kettle orchestra 61";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn a_session_made_on_one_server_works_on_another_and_sign_out_ends_it_on_both() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("t/tessera.toml");
    ok(&tessera(&config, &["init", "--dir", dir.path().join("t").to_str().unwrap(), "--database-url", db.url()]));
    let mut a = Server::start(&config, &dir.path().join("a.log"), "info");
    let link = a.bootstrap.clone().expect("bootstrap link");

    // The first operator, through server A's pages.
    let mut b = Browser::new(&a.ip_url());
    let (secret, factor) = b.bootstrap_operator(&link, "Olivia Operator", "olivia@ops.example", PASSWORD).await;
    let seed = tessera_auth::totp::seed_from_base32(&secret).unwrap();
    let code = tessera_auth::totp::code_at(&seed, now());
    let r = b.post("/account/security/totp", &[("factor", &factor), ("code", &code)]).await;
    assert_eq!(r.location(), Some("/account/security/recovery-codes"), "{}", r.body);
    b.get("/account/security/recovery-codes").await;
    let codes = b.post("/account/security/recovery-codes", &[]).await;
    let recovery = between(&codes.body, "<li><code>", "<").expect("recovery codes");

    // A second server on the same database: no bootstrap any more.
    let mut second = Server::start(&config, &dir.path().join("b.log"), "info");
    assert!(second.bootstrap.is_none());

    // Sign in through the API on A (the next step's code: one step of drift is accepted, and it
    // is a code not used before).
    let mut client = Browser::new(&a.ip_url());
    let r = client.post_json("/api/v1/session", json!({ "email": "olivia@ops.example", "password": PASSWORD })).await;
    assert_eq!(r.body, r#"{"stage":"mfa"}"#);
    let code = tessera_auth::totp::code_at(&seed, now() + 30);
    let r = client.post_json("/api/v1/session/totp", json!({ "code": code })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(client.get("/api/v1/me").await.status, 200);

    // The same cookie on B.
    let mut on_b = Browser::new(&second.ip_url());
    on_b.cookies = client.cookies.clone();
    let me = on_b.get("/api/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert!(me.body.contains("Olivia Operator"));

    // Sign out on A: B refuses the session at once.
    assert_eq!(client.delete("/api/v1/session").await.status, 204);
    assert_eq!(on_b.get("/api/v1/me").await.status, 401);

    // And the other way round: a session made on B's pages (second factor: a recovery code,
    // as a TOTP code of a new time step may not exist yet), ended on B, is dead on A.
    let mut c = Browser::new(&second.ip_url());
    c.get("/sign-in").await;
    let r = c.post("/sign-in", &[("email", "olivia@ops.example"), ("password", PASSWORD)]).await;
    assert_eq!(r.location(), Some("/sign-in/verify"));
    c.get("/sign-in/verify").await;
    assert_eq!(c.post("/sign-in/verify", &[("recovery", &recovery)]).await.location(), Some("/"));
    let mut on_a = Browser::new(&a.ip_url());
    on_a.cookies = c.cookies.clone();
    assert_eq!(on_a.get("/api/v1/me").await.status, 200);
    c.get("/").await;
    assert_eq!(c.post("/sign-out", &[]).await.location(), Some("/sign-in?done=signed-out"));
    assert_eq!(on_a.get("/api/v1/me").await.status, 401);
    a.stop();
    second.stop();
}
