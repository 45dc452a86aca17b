//! Administration writes its audit events with its acts: a request for access, each approval or
//! refusal (and the grant an approval makes), recertification (one event per grant), revocation,
//! dormancy suspension (one per account, by the system), reactivation, an API token's making,
//! use and revocation, a network allowlist, an invitation proposing a grant, a dictionary load
//! and an operator's appointment. Each act, done over HTTP where it has a route, leaves exactly
//! its events (action, actor, target, registry, organisation, outcome; client the caller's
//! address), with no address or name in any field. When the log refuses the event, the approval
//! or revocation fails and changes nothing.

use std::collections::HashSet;

use reqwest::StatusCode;
use tessera_audit::{Actor, Outcome};
use tessera_domain::Dictionary;
use tessera_store::{AuditActor, AuditNote, AuditOutcome};

use crate::access::{controller_approves, decide, first_controller, operators_approve, request, user_id, world};
use crate::helpers::{
    BrowserExt as _, GOOD_PASSWORD, TestApp, accept_audit, assert_audit_names_nobody, refuse_audit, spawn_app,
};
use crate::on_both;

const DAY: i64 = 86_400;

/// The administrative actions this file checks; authentication and reads are tested elsewhere.
const ADMIN: &[&str] = &[
    "access.request",
    "access.approve",
    "access.decline",
    "grant.create",
    "grant.recertify",
    "grant.revoke",
    "account.suspend",
    "account.reactivate",
    "token.create",
    "token.revoke",
    "token.use",
    "networks.set",
    "invite",
    "operator.appoint",
    "dictionary.load",
];

/// The log's last sequence number: a mark to read the events of one act after.
async fn mark(app: &TestApp) -> u64 {
    app.store.audit_head().await.unwrap().last_seq
}

/// (action, actor, target, registry, organisation, outcome) of an event.
type Seen = (String, Actor, Option<String>, Option<String>, Option<String>, Outcome);

/// The administrative events after `from`, as [`Seen`]; each from `client` when it is given.
async fn admin_since(app: &TestApp, from: u64, client: Option<&str>) -> Vec<Seen> {
    let all = app.store.audit_events(from, u64::MAX, 100_000).await.unwrap();
    all.into_iter()
        .map(|r| r.event.unwrap())
        .filter(|e| ADMIN.contains(&e.action.as_str()))
        .map(|e| {
            if let Some(c) = client {
                assert_eq!(e.client.as_deref(), Some(c), "{e:?}");
            }
            (e.action, e.actor, e.target, e.registry, e.organisation, e.outcome)
        })
        .collect()
}

/// An expected event that succeeded.
fn ok(action: &str, actor: &Actor, target: &str, registry: Option<&str>, org: Option<&str>) -> Seen {
    (
        action.into(),
        actor.clone(),
        Some(target.into()).filter(|t: &String| !t.is_empty()),
        registry.map(str::to_owned),
        org.map(str::to_owned),
        Outcome::Success,
    )
}

fn user(id: &str) -> Actor {
    Actor::User(id.to_owned())
}

/// The machine the tests run on: every act's client address.
const HERE: Option<&str> = Some("127.0.0.1");

on_both! {
    async fn requests_and_decisions_leave_their_events_and_the_grant_they_make_its_own(kind: &str) {
        let (app, mut op1, mut op2) = world(kind, |_| {}).await;
        let olivia = user(&user_id(&app, "olivia@ops.example").await);
        let oscar = user(&user_id(&app, "oscar@ops.example").await);
        let (mut c, _) = app.member(&mut op1, "cara@trust.example", "Cara Controller").await;
        let cara_id = user_id(&app, "cara@trust.example").await;
        let cara = user(&cara_id);

        // The first controller: a request, an operator's approval, and the second operator's,
        // which makes the grant.
        let from = mark(&app).await;
        let first = request(&app, &mut c, "cara@trust.example", "controller", "").await;
        let req = format!("request:{first}");
        assert_eq!(admin_since(&app, from, HERE).await, vec![ok("access.request", &cara, &req, Some("njr"), None)]);
        let from = mark(&app).await;
        let (_, body) = operators_approve(&mut op1, &first).await;
        assert!(body.contains("(1 of 2)"), "{body}");
        assert_eq!(admin_since(&app, from, HERE).await, vec![ok("access.approve", &olivia, &req, Some("njr"), None)]);
        let from = mark(&app).await;
        let (_, body) = operators_approve(&mut op2, &first).await;
        assert!(body.contains("access granted"), "{body}");
        let grant = app.store.live_grants(&cara_id, app.clock.now()).await.unwrap().remove(0).id;
        assert_eq!(admin_since(&app, from, HERE).await, vec![
            ok("access.approve", &oscar, &req, Some("njr"), None),
            ok("grant.create", &oscar, &format!("grant:{grant}"), Some("njr"), None),
        ]);

        // A submitter at one organisation: the events carry it.
        let (mut s, _) = app.member(&mut op1, "sam@trust.example", "Sam Submitter").await;
        let sam_id = user_id(&app, "sam@trust.example").await;
        let from = mark(&app).await;
        let sub = request(&app, &mut s, "sam@trust.example", "submitter", "RRK").await;
        let (_, body) = controller_approves(&mut c, &sub).await;
        assert!(body.contains("access granted"), "{body}");
        let grant = app.store.live_grants(&sam_id, app.clock.now()).await.unwrap().remove(0).id;
        let req = format!("request:{sub}");
        assert_eq!(admin_since(&app, from, HERE).await, vec![
            ok("access.request", &user(&sam_id), &req, Some("njr"), Some("RRK")),
            ok("access.approve", &cara, &req, Some("njr"), Some("RRK")),
            ok("grant.create", &cara, &format!("grant:{grant}"), Some("njr"), Some("RRK")),
        ]);

        // A decision that is refused (one's own request) writes nothing; a refusal is declined.
        let own = request(&app, &mut c, "cara@trust.example", "viewer", "RQY").await;
        let from = mark(&app).await;
        assert_eq!(controller_approves(&mut c, &own).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(admin_since(&app, from, HERE).await, vec![]);
        let other = request(&app, &mut s, "sam@trust.example", "viewer", "RQY").await;
        let from = mark(&app).await;
        let (_, body) = decide(&mut c, "/registries/njr/access", "/registries/njr/access/decide", &other, "refuse").await;
        assert!(body.contains("The request is refused"), "{body}");
        let declined = ok("access.decline", &cara, &format!("request:{other}"), Some("njr"), Some("RQY"));
        assert_eq!(admin_since(&app, from, HERE).await, vec![declined]);

        assert_audit_names_nobody(&app, &["Cara", "Sam", "Olivia", "Oscar", "Known to the registry", "I run the audit"]).await;
    }

    async fn revocation_and_recertification_leave_one_event_per_grant_they_change(kind: &str) {
        let (app, mut op1, mut op2) = world(kind, |s| s.grant_ttl = 20 * DAY).await;
        let (mut c, c_seed) = first_controller(&app, &mut op1, &mut op2, "cara@trust.example").await;
        let cara = user(&user_id(&app, "cara@trust.example").await);
        let mut grants = Vec::new();
        for who in ["keep", "gone"] {
            let email = format!("{who}@trust.example");
            let (mut b, _) = app.member(&mut op1, &email, &format!("Sub {who}")).await;
            let id = request(&app, &mut b, &email, "submitter", "RRK").await;
            controller_approves(&mut c, &id).await;
            let holder = user_id(&app, &email).await;
            grants.push(app.store.live_grants(&holder, app.clock.now()).await.unwrap().remove(0).id);
        }
        let (keep, gone) = (grants[0].clone(), grants[1].clone());

        let from = mark(&app).await;
        c.get("/registries/njr/access").await;
        let r = c.post("/registries/njr/access/revoke", &[("grant", gone.as_str()), ("reason", "Left the trust")]).await;
        assert!(r.body.contains("The access is revoked"), "{}", r.body);
        let revoked = ok("grant.revoke", &cara, &format!("grant:{gone}"), Some("njr"), Some("RRK"));
        assert_eq!(admin_since(&app, from, HERE).await, vec![revoked]);
        // Nothing left to revoke: nothing written.
        let from = mark(&app).await;
        let r = c.post("/registries/njr/access/revoke", &[("grant", gone.as_str()), ("reason", "Again")]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(admin_since(&app, from, HERE).await, vec![]);

        // Recertifying the live grant and the revoked one extends, and records, only the first.
        app.clock.advance(15 * DAY);
        c.sign_in(&app, "cara@trust.example", &c_seed).await;
        c.get("/registries/njr/access/recertify").await;
        let from = mark(&app).await;
        let fields = [(format!("grant-{keep}"), "yes"), (format!("grant-{gone}"), "yes")];
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let r = c.post("/registries/njr/access/recertify", &fields).await;
        assert!(r.body.contains("1 grants recertified"), "{}", r.body);
        let recertified = ok("grant.recertify", &cara, &format!("grant:{keep}"), Some("njr"), None);
        assert_eq!(admin_since(&app, from, HERE).await, vec![recertified]);

        assert_audit_names_nobody(&app, &["Cara", "Sub keep", "Sub gone", "Left the trust"]).await;
    }

    async fn dormancy_suspends_each_account_with_its_own_event_and_reactivation_has_one(kind: &str) {
        let (app, mut op1, mut op2) = world(kind, |_| {}).await;
        let (mut c, c_seed) = first_controller(&app, &mut op1, &mut op2, "cara@trust.example").await;
        let cara = user(&user_id(&app, "cara@trust.example").await);
        let (mut s, s_seed) = app.member(&mut op1, "sam@trust.example", "Sam Submitter").await;
        let id = request(&app, &mut s, "sam@trust.example", "submitter", "RRK").await;
        controller_approves(&mut c, &id).await;
        s.sign_in(&app, "sam@trust.example", &s_seed).await;
        let sam = user_id(&app, "sam@trust.example").await;
        let last = app.store.user(&sam).await.unwrap().unwrap().last_sign_in_at.unwrap();
        app.clock.advance(last + 89 * DAY - app.clock.now());
        c.sign_in(&app, "cara@trust.example", &c_seed).await;

        // Day 90: a sign-in attempt runs the sweep, which suspends Sam and the operators (who
        // last signed in before Sam), each with an event by the system; Cara is not dormant.
        app.clock.advance(last + 90 * DAY - app.clock.now());
        let from = mark(&app).await;
        let mut fresh = app.browser();
        fresh.get("/sign-in").await;
        let r = fresh.post("/sign-in", &[("email", "sam@trust.example"), ("password", GOOD_PASSWORD)]).await;
        assert_ne!(r.location(), Some("/sign-in/verify"), "refused");
        let mut suspended = HashSet::new();
        for email in ["sam@trust.example", "olivia@ops.example", "oscar@ops.example", "cara@trust.example"] {
            let u = app.store.user_by_email(email).await.unwrap().unwrap();
            if u.status == "suspended" {
                suspended.insert(ok("account.suspend", &Actor::System, &format!("user:{}", u.id), None, None));
            }
        }
        assert!(suspended.iter().any(|e| e.2 == Some(format!("user:{sam}"))), "Sam is suspended");
        assert!(!suspended.iter().any(|e| e.2 == Some(format!("user:{}", user_id_of(&cara)))), "Cara is not");
        let seen: Vec<Seen> = admin_since(&app, from, None).await;
        assert_eq!(seen.len(), suspended.len(), "one event per account: {seen:?}");
        assert_eq!(seen.into_iter().collect::<HashSet<_>>(), suspended);

        // The controller reactivates Sam: one event; an operator cannot be, and nothing is written.
        c.sign_in(&app, "cara@trust.example", &c_seed).await;
        c.get("/registries/njr/access").await;
        let from = mark(&app).await;
        let r = c.post("/registries/njr/access/reactivate", &[("user", sam.as_str())]).await;
        assert!(r.body.contains("The account is active again"), "{}", r.body);
        let reactivated = ok("account.reactivate", &cara, &format!("user:{sam}"), Some("njr"), None);
        assert_eq!(admin_since(&app, from, HERE).await, vec![reactivated]);
        let oscar = user_id(&app, "oscar@ops.example").await;
        let from = mark(&app).await;
        assert_eq!(c.post("/registries/njr/access/reactivate", &[("user", oscar.as_str())]).await.status, StatusCode::NOT_FOUND);
        assert_eq!(admin_since(&app, from, HERE).await, vec![]);

        assert_audit_names_nobody(&app, &["Cara", "Sam Submitter", GOOD_PASSWORD]).await;
    }

    async fn tokens_allowlists_and_invitations_proposing_access_leave_their_events(kind: &str) {
        let (app, mut op1, mut op2) = world(kind, |_| {}).await;
        let olivia = user(&user_id(&app, "olivia@ops.example").await);
        let (mut c, _) = first_controller(&app, &mut op1, &mut op2, "cara@trust.example").await;
        let cara = user(&user_id(&app, "cara@trust.example").await);
        let (mut s, _) = app.member(&mut op1, "sam@trust.example", "Sam Submitter").await;
        let sam_id = user_id(&app, "sam@trust.example").await;
        let id = request(&app, &mut s, "sam@trust.example", "submitter", "RRK").await;
        controller_approves(&mut c, &id).await;

        // Making a token.
        s.get("/account/tokens").await;
        let from = mark(&app).await;
        let fields = [("label", "Theatre system"), ("registry", "njr"), ("organisation", "RRK"), ("read", "yes"), ("days", "30")];
        let r = s.post("/account/tokens", &fields).await;
        let secret = crate::helpers::between(&r.body, "id=\"token-secret\">", "<").expect("secret shown");
        let token = app.store.api_tokens_of(&sam_id).await.unwrap().remove(0).id;
        let target = format!("token:{token}");
        let made = ok("token.create", &user(&sam_id), &target, Some("njr"), Some("RRK"));
        assert_eq!(admin_since(&app, from, HERE).await, vec![made]);

        // Each request with it: one event by the token, before the request goes on.
        let http = reqwest::Client::new();
        let call = |bearer: String| {
            let url = format!("{}/api/v1/registries/njr/records", app.base);
            let http = http.clone();
            async move { http.get(url).bearer_auth(bearer).send().await.unwrap().status() }
        };
        let from = mark(&app).await;
        assert_ne!(call(secret.clone()).await, StatusCode::UNAUTHORIZED);
        let used = ok("token.use", &Actor::ApiToken(token.clone()), &target, Some("njr"), Some("RRK"));
        assert_eq!(admin_since(&app, from, HERE).await, vec![used.clone()]);
        let from = mark(&app).await;
        assert_ne!(call(secret.clone()).await, StatusCode::UNAUTHORIZED);
        assert_eq!(admin_since(&app, from, HERE).await, vec![used]);

        // A token that is not one: a failure by the system, naming nothing.
        let refused = ("token.use".to_owned(), Actor::System, None, None, None, Outcome::Failure);
        let from = mark(&app).await;
        assert_eq!(call("tsr_not-a-real-token".into()).await, StatusCode::UNAUTHORIZED);
        assert_eq!(admin_since(&app, from, HERE).await, vec![refused.clone()]);

        // Revoking it; afterwards it is refused like any unknown token.
        let from = mark(&app).await;
        let r = s.post("/account/tokens/revoke", &[("token", token.as_str())]).await;
        assert!(r.body.contains("The token is revoked"), "{}", r.body);
        let revoked = ok("token.revoke", &user(&sam_id), &target, Some("njr"), Some("RRK"));
        assert_eq!(admin_since(&app, from, HERE).await, vec![revoked]);
        let from = mark(&app).await;
        assert_eq!(call(secret.clone()).await, StatusCode::UNAUTHORIZED);
        assert_eq!(admin_since(&app, from, HERE).await, vec![refused]);

        // A network allowlist (this machine's range, so the controller keeps access).
        c.get("/registries/njr/access").await;
        let from = mark(&app).await;
        let r = c.post("/registries/njr/access/networks", &[("networks", "127.0.0.0/8 This machine")]).await;
        assert!(r.body.contains("The allowlist has 1 ranges"), "{}", r.body);
        assert_eq!(admin_since(&app, from, HERE).await, vec![ok("networks.set", &cara, "", Some("njr"), None)]);

        // An invitation proposing a grant: aimed at the invitation, never the address.
        op1.get("/admin/invitations").await;
        let from = mark(&app).await;
        let fields = [("email", "ivy@trust.example"), ("name", "Ivy Invited"), ("registry", "njr"), ("role", "submitter"), ("organisation", "RRK")];
        let r = op1.post("/admin/invitations", &fields).await;
        assert!(r.body.contains("The invitation has been sent"), "{}", r.body);
        let seen = admin_since(&app, from, HERE).await;
        assert_eq!(seen.len(), 1, "{seen:?}");
        let target = seen[0].2.clone().unwrap();
        assert!(target.starts_with("invitation:") && target.len() > "invitation:".len(), "{target}");
        assert_eq!(seen[0], ok("invite", &olivia, &target, Some("njr"), Some("RRK")));

        assert_audit_names_nobody(&app, &["Cara", "Sam Submitter", "Ivy", "Theatre system", secret.as_str(), "tsr_"]).await;
    }

    async fn a_dictionary_load_and_an_operator_appointment_are_stored_with_their_events(kind: &str) {
        // Neither has a web route: `tessera registry load` (system, client `cli`) and the
        // operators' set-up call the store as here.
        let app = spawn_app(kind).await;
        app.operator().await;
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../registries/joints.toml")).unwrap();
        let dict = Dictionary::from_toml(&text).unwrap();
        let cli = |action: &str| AuditNote::new(AuditActor::System, action, AuditOutcome::Success).client("cli");
        let from = mark(&app).await;
        app.store.load_dictionary(&dict, "toml", &app.master, &[cli("dictionary.load")]).await.unwrap();
        let loaded = ok("dictionary.load", &Actor::System, "dictionary:njr/v1", Some("njr"), None);
        assert_eq!(admin_since(&app, from, Some("cli")).await, vec![loaded]);
        // Unchanged: nothing written, no event.
        let from = mark(&app).await;
        app.store.load_dictionary(&dict, "toml", &app.master, &[cli("dictionary.load")]).await.unwrap();
        assert_eq!(admin_since(&app, from, None).await, vec![]);

        let olivia = app.store.user_by_email("olivia@ops.example").await.unwrap().unwrap().id;
        // Olivia is already an operator; appointing again is harmless and still recorded.
        let from = mark(&app).await;
        let note = cli("operator.appoint").target(format!("user:{olivia}"));
        app.store.make_operator(&olivia, app.clock.now(), &[note]).await.unwrap();
        let appointed = ok("operator.appoint", &Actor::System, &format!("user:{olivia}"), None, None);
        assert_eq!(admin_since(&app, from, Some("cli")).await, vec![appointed]);
        assert_audit_names_nobody(&app, &["Olivia"]).await;
    }

    async fn an_approval_or_revocation_whose_event_cannot_be_stored_fails_and_changes_nothing(kind: &str) {
        let (app, mut op1, mut op2) = world(kind, |_| {}).await;
        let (mut c, _) = first_controller(&app, &mut op1, &mut op2, "cara@trust.example").await;
        let (mut s, _) = app.member(&mut op1, "sam@trust.example", "Sam Submitter").await;
        let sam = user_id(&app, "sam@trust.example").await;
        let held = request(&app, &mut s, "sam@trust.example", "submitter", "RRK").await;
        controller_approves(&mut c, &held).await;
        let grant = app.store.live_grants(&sam, app.clock.now()).await.unwrap().remove(0).id;
        let pending = request(&app, &mut s, "sam@trust.example", "viewer", "RQY").await;
        c.get("/registries/njr/access").await;
        let before = mark(&app).await;

        refuse_audit(&app.store).await;
        let (status, body) = decide(&mut c, "/registries/njr/access", "/registries/njr/access/decide", &pending, "approve").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert!(!body.contains("sam@"), "{body}");
        c.get("/registries/njr/access").await;
        let r = c.post("/registries/njr/access/revoke", &[("grant", grant.as_str()), ("reason", "Left the trust")]).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);

        // Nothing of either act was stored: the request is pending with no approval, Sam holds
        // exactly the one grant, still live, and the log has not moved.
        let requests = app.store.requests_of_user(&sam).await.unwrap();
        let row = requests.iter().find(|q| q.id == pending).unwrap();
        assert_eq!((row.status.as_str(), row.approvals), ("pending", 0));
        let live: Vec<String> = app.store.live_grants(&sam, app.clock.now()).await.unwrap().into_iter().map(|g| g.id).collect();
        assert_eq!(live, vec![grant.clone()]);
        assert_eq!(mark(&app).await, before);

        // With the log back, the same approval goes through with its events.
        accept_audit(&app.store).await;
        let (_, body) = decide(&mut c, "/registries/njr/access", "/registries/njr/access/decide", &pending, "approve").await;
        assert!(body.contains("access granted"), "{body}");
        let actions: Vec<String> = admin_since(&app, before, HERE).await.into_iter().map(|e| e.0).collect();
        assert_eq!(actions, vec!["access.approve", "grant.create"]);
    }
}

/// The id in a user actor.
fn user_id_of(actor: &Actor) -> String {
    match actor {
        Actor::User(id) => id.clone(),
        other => panic!("not a user: {other:?}"),
    }
}
