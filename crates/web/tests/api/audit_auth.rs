//! Authentication writes its audit events: every sign-in (success, failure by a known or an
//! unknown address, lockout), second-factor check, enrolment, recovery-code set, password change
//! and sign-out leaves exactly its event, as done by the account (target `user:<id>`) from the
//! client's address, with no address, name or secret in any field; and when the audit log cannot
//! be written, signing in fails and starts no session (the act and its event are one transaction).

use reqwest::StatusCode;
use serde_json::json;
use tessera_audit::{Actor, Outcome};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_audit_names_nobody, audit_events, refuse_audit, spawn_app_with};
use crate::on_both;

/// The events after the first `from`, as (action, actor, target, outcome).
async fn since(app: &TestApp, from: usize) -> Vec<(String, Actor, Option<String>, Outcome)> {
    audit_events(app).await[from..]
        .iter()
        .map(|e| (e.action.clone(), e.actor.clone(), e.target.clone(), e.outcome))
        .collect()
}

on_both! {
    async fn every_authentication_step_leaves_its_event(kind: &str) {
        let app = spawn_app_with(kind, |s| s.lock_after = 3).await;
        let (mut op, _) = app.operator().await;
        let operator = app.store.user_by_email("olivia@ops.example").await.unwrap().unwrap().id;
        let op_user = Actor::User(operator.clone());
        let op_target = Some(format!("user:{operator}"));
        let ok = Outcome::Success;
        let bootstrap = since(&app, 0).await;
        assert_eq!(
            bootstrap,
            [
                ("invitation.accept".into(), op_user.clone(), op_target.clone(), ok),
                ("mfa.enrol".into(), op_user.clone(), op_target.clone(), ok),
                ("mfa.success".into(), op_user.clone(), op_target.clone(), ok),
                ("mfa.recovery_codes".into(), op_user.clone(), op_target.clone(), ok),
            ]
        );

        let n = audit_events(&app).await.len();
        let (mut member, seed) = app.member(&mut op, "mia@trust.example", "Mia Member").await;
        let mia = app.store.user_by_email("mia@trust.example").await.unwrap().unwrap().id;
        let (mia_user, mia_target) = (Actor::User(mia.clone()), Some(format!("user:{mia}")));
        let got = since(&app, n).await;
        assert_eq!(got[0].0, "invite");
        assert_eq!(got[0].1, op_user);
        assert!(got[0].2.as_deref().is_some_and(|t| t.starts_with("invitation:")), "{got:?}");
        assert_eq!(
            got[1..],
            [
                ("invitation.accept".into(), mia_user.clone(), mia_target.clone(), ok),
                ("mfa.enrol".into(), mia_user.clone(), mia_target.clone(), ok),
                ("mfa.success".into(), mia_user.clone(), mia_target.clone(), ok),
                ("mfa.recovery_codes".into(), mia_user.clone(), mia_target.clone(), ok),
            ]
        );

        // Sign out, a wrong password, an unknown address, then a full sign-in with one wrong code.
        let n = audit_events(&app).await.len();
        assert_eq!(member.post("/sign-out", &[]).await.status, StatusCode::SEE_OTHER);
        let mut b = app.browser();
        b.get("/sign-in").await;
        b.post("/sign-in", &[("email", "mia@trust.example"), ("password", "not the password at all")]).await;
        b.post("/sign-in", &[("email", "nobody@trust.example"), ("password", GOOD_PASSWORD)]).await;
        let r = b.post_json("/api/v1/session", json!({ "email": "mia@trust.example", "password": GOOD_PASSWORD })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = b.post_json("/api/v1/session/totp", json!({ "code": "000000" })).await;
        assert_ne!(r.status, StatusCode::OK);
        let code = app.next_code(&seed);
        let r = b.post_json("/api/v1/session/totp", json!({ "code": code })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let fail = Outcome::Failure;
        assert_eq!(
            since(&app, n).await,
            [
                ("sign_out".into(), mia_user.clone(), mia_target.clone(), ok),
                ("sign_in.failure".into(), mia_user.clone(), mia_target.clone(), fail),
                ("sign_in.failure".into(), Actor::System, None, fail),
                ("sign_in.success".into(), mia_user.clone(), mia_target.clone(), ok),
                ("mfa.failure".into(), mia_user.clone(), mia_target.clone(), fail),
                ("mfa.success".into(), mia_user.clone(), mia_target.clone(), ok),
            ]
        );
        let last = audit_events(&app).await.pop().unwrap();
        assert_eq!(last.client.as_deref(), Some("127.0.0.1"), "the client's address");

        // The operator changes their password.
        let n = audit_events(&app).await.len();
        let new = "marmalade heron quarry 77";
        op.get("/account").await;
        let r = op
            .post("/account/password", &[("current", GOOD_PASSWORD), ("password", new), ("confirmation", new)])
            .await;
        assert!(r.status.is_success() || r.status.is_redirection(), "{}", r.body);
        assert_eq!(since(&app, n).await, [("password.change".into(), op_user.clone(), op_target.clone(), ok)]);

        // Three wrong passwords in a row lock the account (lock_after = 3 here; the sign-in above
        // cleared the earlier failure).
        let n = audit_events(&app).await.len();
        let mut c = app.browser();
        c.get("/sign-in").await;
        for _ in 0..3 {
            app.clock.advance(3600);
            c.post("/sign-in", &[("email", "mia@trust.example"), ("password", "still not the password")]).await;
        }
        assert_eq!(
            since(&app, n).await,
            [
                ("sign_in.failure".into(), mia_user.clone(), mia_target.clone(), fail),
                ("sign_in.failure".into(), mia_user.clone(), mia_target.clone(), fail),
                ("sign_in.failure".into(), mia_user.clone(), mia_target.clone(), fail),
                ("sign_in.lockout".into(), mia_user.clone(), mia_target.clone(), fail),
            ]
        );

        assert_audit_names_nobody(
            &app,
            &["mia@trust.example", "Mia Member", "olivia@ops.example", "Olivia", GOOD_PASSWORD, new, "nobody@"],
        )
        .await;
    }

    async fn a_sign_in_whose_event_cannot_be_written_fails_and_starts_no_session(kind: &str) {
        let app = spawn_app_with(kind, |_| {}).await;
        let (mut op, _) = app.operator().await;
        app.member(&mut op, "mia@trust.example", "Mia Member").await;
        let mia = app.store.user_by_email("mia@trust.example").await.unwrap().unwrap();
        let sessions = app.store.user_sessions(&mia.id).await.unwrap().len();
        let before = audit_events(&app).await.len();
        refuse_audit(&app.store).await;
        let mut b = app.browser();
        let r = b.post_json("/api/v1/session", json!({ "email": "mia@trust.example", "password": GOOD_PASSWORD })).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
        assert!(!r.body.contains("mia@"), "{}", r.body);
        let page = app.browser().sign_in_attempt("mia@trust.example").await;
        assert_eq!(page, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(app.store.user_sessions(&mia.id).await.unwrap().len(), sessions, "no session started");
        let after = app.store.user(&mia.id).await.unwrap().unwrap();
        assert_eq!(after.last_sign_in_at, mia.last_sign_in_at, "nothing of the sign-in was stored");
        assert_eq!(audit_events(&app).await.len(), before);
    }
}

trait Attempt {
    /// Posts the sign-in page with the right password; returns the status.
    async fn sign_in_attempt(self, email: &str) -> StatusCode;
}

impl Attempt for crate::helpers::Browser {
    async fn sign_in_attempt(mut self, email: &str) -> StatusCode {
        self.get("/sign-in").await;
        self.post("/sign-in", &[("email", email), ("password", GOOD_PASSWORD)]).await.status
    }
}
