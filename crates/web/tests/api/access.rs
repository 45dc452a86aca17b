//! The access workflow over HTTP: requests and approvals (nobody approves their own; a controller
//! needs two distinct approvers; the first through two operators), grant expiry, recertification
//! and revocation, dormancy at day 90 and reactivation, and the operators' dashboard counted on
//! synthetic accounts. The clock is set, never slept on.

use reqwest::StatusCode;
use tessera_auth::{AccountSettings, Client, SessionToken};
use tessera_domain::access::Role;
use tessera_domain::{Dictionary, OdsCode, Organisation, OrganisationKind};
use tessera_store::{Decision, DecisionOutcome, NewRequest};

use crate::helpers::{Browser, BrowserExt as _, GOOD_PASSWORD, TestApp, spawn_app_with};
use crate::on_both;

const DAY: i64 = 86_400;

/// An app with the joint registry, organisations RRK and RQY, and two platform operators.
pub(crate) async fn world(kind: &str, tune: impl FnOnce(&mut AccountSettings)) -> (TestApp, Browser, Browser) {
    let app = spawn_app_with(kind, tune).await;
    let (mut op1, _) = app.operator().await;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../registries/joints.toml")).unwrap();
    let master = tessera_vault::MasterKey::generate().unwrap();
    app.store.load_dictionary(&Dictionary::from_toml(&text).unwrap(), "toml", &master, &[]).await.unwrap();
    let org = |code: &str| Organisation {
        ods: OdsCode::parse(code).unwrap(),
        name: format!("Trust {code}"),
        kind: OrganisationKind::NhsTrust,
        region: "North West".into(),
    };
    app.store.upsert_organisations(&[org("RRK"), org("RQY")]).await.unwrap();
    let (op2, _) = app.member(&mut op1, "oscar@ops.example", "Oscar Operator").await;
    let id = user_id(&app, "oscar@ops.example").await;
    app.store.make_operator(&id, app.clock.now(), &[]).await.unwrap();
    (app, op1, op2)
}

pub(crate) async fn user_id(app: &TestApp, email: &str) -> String {
    app.store.user_by_email(email).await.unwrap().expect("account").id
}

/// The person asks for access on `/access`; returns the new request's id.
pub(crate) async fn request(app: &TestApp, b: &mut Browser, email: &str, role: &str, org: &str) -> String {
    b.get("/access").await;
    let fields =
        [("registry", "njr"), ("role", role), ("organisation", org), ("justification", "I run the audit here")];
    let r = b.post("/access", &fields).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Your request has been sent"), "{}", r.body);
    let requests = app.store.requests_of_user(&user_id(app, email).await).await.unwrap();
    requests.into_iter().find(|q| q.status == "pending" && q.role == role).expect("pending request").id
}

/// Posts a decision to `path` (a registry's or the platform's decide route) from `page`.
pub(crate) async fn decide(
    b: &mut Browser,
    page: &str,
    path: &str,
    request: &str,
    decision: &str,
) -> (StatusCode, String) {
    b.get(page).await;
    let r = b.post(path, &[("request", request), ("decision", decision), ("reason", "Known to the registry")]).await;
    (r.status, r.body)
}

pub(crate) async fn operators_approve(op: &mut Browser, request: &str) -> (StatusCode, String) {
    decide(op, "/platform/access", "/platform/access/decide", request, "approve").await
}

pub(crate) async fn controller_approves(c: &mut Browser, request: &str) -> (StatusCode, String) {
    decide(c, "/registries/njr/access", "/registries/njr/access/decide", request, "approve").await
}

/// A new member made the registry's first controller by the two operators.
pub(crate) async fn first_controller(
    app: &TestApp,
    op1: &mut Browser,
    op2: &mut Browser,
    email: &str,
) -> (Browser, Vec<u8>) {
    let (mut c, seed) = app.member(op1, email, "Cara Controller").await;
    assert_eq!(c.get("/registries/njr/access").await.status, StatusCode::NOT_FOUND, "no access before approval");
    let id = request(app, &mut c, email, "controller", "").await;
    let (_, body) = operators_approve(op1, &id).await;
    assert!(body.contains("Another approver must approve too"), "{body}");
    let (_, body) = operators_approve(op2, &id).await;
    assert!(body.contains("access granted"), "{body}");
    assert_eq!(c.get("/registries/njr/access").await.status, StatusCode::OK);
    (c, seed)
}

fn row_numbers(body: &str, row_id: &str) -> Vec<i64> {
    let start = body.find(&format!("id=\"{row_id}\"")).unwrap_or_else(|| panic!("row {row_id}: {body}"));
    let row = &body[start..start + body[start..].find("</tr>").unwrap()];
    row.split("<td")
        .skip(1)
        .map(|c| c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()].trim().parse().unwrap())
        .collect()
}

on_both! {
    async fn nobody_approves_their_own_request_and_a_controller_needs_two_distinct_approvers(kind: &str) {
        let (app, mut op1, mut op2) = world(kind, |_| {}).await;
        // An operator cannot hold a registry role, so cannot ask for one.
        op1.get("/access").await;
        let r = op1.post("/access", &[("registry", "njr"), ("role", "viewer"), ("organisation", ""), ("justification", "Let me see the data")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("Platform operators cannot hold a registry role"), "{}", r.body);

        // The first controller: one operator's approval is not enough, the same operator twice
        // counts once, and the second operator completes it.
        let (mut c1, _) = app.member(&mut op1, "cara@trust.example", "Cara Controller").await;
        let first = request(&app, &mut c1, "cara@trust.example", "controller", "").await;
        let (_, body) = operators_approve(&mut op1, &first).await;
        assert!(body.contains("(1 of 2)"), "{body}");
        let (status, body) = operators_approve(&mut op1, &first).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("You have already decided this request"), "{body}");
        assert_eq!(c1.get("/registries/njr/access").await.status, StatusCode::NOT_FOUND, "still one approval");
        let (_, body) = operators_approve(&mut op2, &first).await;
        assert!(body.contains("access granted"), "{body}");
        assert_eq!(c1.get("/registries/njr/access").await.status, StatusCode::OK);
        let email = app.emails().into_iter().rev().find(|(to, _, _)| to.contains("cara@trust.example")).unwrap();
        assert!(email.1.contains("approved") && email.2.contains("/access"), "{email:?}");
        assert!(!email.2.contains("Known to the registry"), "no free text in email");

        // A controller cannot approve their own request, of any role.
        let own = request(&app, &mut c1, "cara@trust.example", "viewer", "RQY").await;
        let (status, body) = controller_approves(&mut c1, &own).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("Nobody may decide their own request"), "{body}");

        // A submitter: one controller's approval grants it; the requester is told and sees it.
        let (mut s, _) = app.member(&mut op1, "sam@trust.example", "Sam Submitter").await;
        let sub = request(&app, &mut s, "sam@trust.example", "submitter", "RRK").await;
        assert_eq!(decide(&mut s, "/access", "/registries/njr/access/decide", &sub, "approve").await.0, StatusCode::NOT_FOUND);
        assert_eq!(decide(&mut op1, "/platform/access", "/platform/access/decide", &sub, "approve").await.0, StatusCode::NOT_FOUND);
        let (_, body) = controller_approves(&mut c1, &sub).await;
        assert!(body.contains("access granted"), "{body}");
        let mine = s.get("/access").await.body;
        assert!(mine.contains("Approved") && mine.contains("RRK"), "{mine}");
        let email = app.emails().into_iter().rev().find(|(to, _, _)| to.contains("sam@trust.example")).unwrap();
        assert!(email.1.contains("approved"), "{email:?}");

        // The second controller: the one controller's approval counts once; the other approver
        // must be someone else (here an operator, as the registry has fewer than two controllers).
        let (mut c2, _) = app.member(&mut op1, "cleo@trust.example", "Cleo Controller").await;
        let second = request(&app, &mut c2, "cleo@trust.example", "controller", "").await;
        let (_, body) = controller_approves(&mut c1, &second).await;
        assert!(body.contains("(1 of 2)"), "{body}");
        let (status, _) = controller_approves(&mut c1, &second).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(c2.get("/registries/njr/access").await.status, StatusCode::NOT_FOUND);
        let (_, body) = operators_approve(&mut op2, &second).await;
        assert!(body.contains("access granted"), "{body}");
        assert_eq!(c2.get("/registries/njr/access").await.status, StatusCode::OK);

        // With two controllers, operators decide no more: a third needs both controllers.
        let (mut c3, _) = app.member(&mut op1, "cy@trust.example", "Cy Controller").await;
        let third = request(&app, &mut c3, "cy@trust.example", "controller", "").await;
        assert!(!op1.get("/platform/access").await.body.contains(&third));
        assert_eq!(operators_approve(&mut op1, &third).await.0, StatusCode::NOT_FOUND);
        controller_approves(&mut c1, &third).await;
        let (_, body) = controller_approves(&mut c2, &third).await;
        assert!(body.contains("access granted"), "{body}");

        // A refusal by any approver refuses, and the requester sees it.
        let (mut v, _) = app.member(&mut op1, "vic@trust.example", "Vic Viewer").await;
        let refused = request(&app, &mut v, "vic@trust.example", "viewer", "RQY").await;
        let (_, body) = decide(&mut c2, "/registries/njr/access", "/registries/njr/access/decide", &refused, "refuse").await;
        assert!(body.contains("The request is refused"), "{body}");
        assert!(v.get("/access").await.body.contains("Refused"));
        assert!(v.get("/registries/njr/access").await.status == StatusCode::NOT_FOUND);
    }

    async fn racing_approvers_make_one_grant(kind: &str) {
        let (app, mut op1, _op2) = world(kind, |_| {}).await;
        app.member(&mut op1, "rita@trust.example", "Rita Requester").await;
        let requester = user_id(&app, "rita@trust.example").await;
        let approvers = [user_id(&app, "olivia@ops.example").await, user_id(&app, "oscar@ops.example").await];
        // Two distinct approvers send the completing approval at the same moment, many times
        // over: each request ends with exactly one grant, whatever the interleaving.
        for (round, role) in [Role::Viewer, Role::Controller, Role::Viewer, Role::Controller].into_iter().enumerate() {
            let now = app.clock.now() + round as i64;
            let organisation = (role == Role::Viewer).then_some(if round == 0 { "RRK" } else { "RQY" });
            let new = NewRequest { user_id: &requester, registry_id: "njr", role, organisation, justification: "race", now };
            let id = app.store.insert_access_request(&new, &[]).await.unwrap();
            let tasks = approvers.clone().map(|approver| {
                let (store, id) = (app.store.clone(), id.clone());
                tokio::spawn(async move {
                    let d = Decision { request_id: &id, registry_id: Some("njr"), approver_id: &approver, approve: true, reason: "ok", now, grant_expires_at: now + DAY };
                    store.decide_request(&d, &[]).await
                })
            });
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.unwrap());
            }
            let granted = results.iter().filter(|r| matches!(r, Ok(DecisionOutcome::Granted { .. }))).count();
            assert_eq!(granted, 1, "{role:?}: {results:?}");
            let other = results.iter().find(|r| !matches!(r, Ok(DecisionOutcome::Granted { .. }))).unwrap();
            match role {
                Role::Controller => assert!(matches!(other, Ok(DecisionOutcome::Awaiting { approvals: 1, needed: 2 })), "{other:?}"),
                _ => assert!(matches!(other, Err(tessera_store::StoreError::Conflict(_))), "{other:?}"),
            }
        }
        assert_eq!(app.store.live_grants(&requester, app.clock.now()).await.unwrap().len(), 4);
    }

    async fn a_grant_lapses_at_expiry_unless_recertified_and_revocation_ends_it_at_once(kind: &str) {
        let (app, mut op1, mut op2) = world(kind, |s| s.grant_ttl = 20 * DAY).await;
        let (mut c, c_seed) = first_controller(&app, &mut op1, &mut op2, "cara@trust.example").await;
        let mut people = Vec::new();
        for who in ["keep", "lapse", "revoke"] {
            let email = format!("{who}@trust.example");
            let (mut b, seed) = app.member(&mut op1, &email, &format!("Sub {who}")).await;
            let id = request(&app, &mut b, &email, "submitter", "RRK").await;
            let (_, body) = controller_approves(&mut c, &id).await;
            assert!(body.contains("access granted"), "{body}");
            assert!(b.get("/access").await.body.contains("id=\"grants\""), "{who} holds a grant");
            people.push((email, b, seed));
        }
        // Revocation ends access on the very next request of the same session.
        let revoked_id = user_id(&app, "revoke@trust.example").await;
        let grant = app.store.live_grants(&revoked_id, app.clock.now()).await.unwrap().remove(0);
        c.get("/registries/njr/access").await;
        let r = c.post("/registries/njr/access/revoke", &[("grant", &grant.id), ("reason", "Left the trust")]).await;
        assert!(r.body.contains("The access is revoked"), "{}", r.body);
        assert!(!people[2].1.get("/access").await.body.contains("id=\"grants\""), "revoked at once");
        assert!(app.store.live_grants(&revoked_id, app.clock.now()).await.unwrap().is_empty());

        // Fifteen days on, every grant is due: the controller recertifies one and lets one lapse.
        app.clock.advance(15 * DAY);
        c.sign_in(&app, "cara@trust.example", &c_seed).await;
        let page = c.get("/registries/njr/access/recertify").await.body;
        assert!(page.contains("keep@trust.example") && page.contains("lapse@trust.example"), "{page}");
        let keep_id = user_id(&app, "keep@trust.example").await;
        let keep = app.store.live_grants(&keep_id, app.clock.now()).await.unwrap().remove(0);
        let field = format!("grant-{}", keep.id);
        let r = c.post("/registries/njr/access/recertify", &[(field.as_str(), "yes")]).await;
        assert!(r.body.contains("1 grants recertified"), "{}", r.body);
        let renewed = app.store.live_grants(&keep_id, app.clock.now()).await.unwrap().remove(0);
        assert_eq!(renewed.expires_at, app.clock.now() + 20 * DAY);

        // Past the original expiry: the lapsed grant and the controller's own are gone, the
        // recertified one lives. The controller's page answers 404 now.
        app.clock.advance(6 * DAY);
        let lapse_id = user_id(&app, "lapse@trust.example").await;
        assert!(app.store.live_grants(&lapse_id, app.clock.now()).await.unwrap().is_empty(), "lapsed");
        assert_eq!(app.store.live_grants(&keep_id, app.clock.now()).await.unwrap().len(), 1, "recertified");
        c.sign_in(&app, "cara@trust.example", &c_seed).await;
        assert_eq!(c.get("/registries/njr/access").await.status, StatusCode::NOT_FOUND, "own grant lapsed");
        let (_, keep_browser, keep_seed) = &mut people[0];
        keep_browser.sign_in(&app, "keep@trust.example", keep_seed).await;
        assert!(keep_browser.get("/access").await.body.contains("id=\"grants\""));
        let (_, lapse_browser, lapse_seed) = &mut people[1];
        lapse_browser.sign_in(&app, "lapse@trust.example", lapse_seed).await;
        assert!(!lapse_browser.get("/access").await.body.contains("id=\"grants\""));
    }

    async fn dormancy_suspends_at_day_90_and_not_before_and_a_controller_reactivates(kind: &str) {
        let (app, mut op1, mut op2) = world(kind, |_| {}).await;
        let (mut c, c_seed) = first_controller(&app, &mut op1, &mut op2, "cara@trust.example").await;
        let (mut s, s_seed) = app.member(&mut op1, "sam@trust.example", "Sam Submitter").await;
        let id = request(&app, &mut s, "sam@trust.example", "submitter", "RRK").await;
        controller_approves(&mut c, &id).await;
        s.sign_in(&app, "sam@trust.example", &s_seed).await;
        let sam = user_id(&app, "sam@trust.example").await;
        let last = app.store.user(&sam).await.unwrap().unwrap().last_sign_in_at.expect("signed in");

        // Day 89: the controller signs in; Sam is not yet dormant, even one second before day 90.
        app.clock.advance(last + 89 * DAY - app.clock.now());
        c.sign_in(&app, "cara@trust.example", &c_seed).await;
        app.clock.advance(last + 90 * DAY - 1 - app.clock.now());
        app.state.accounts().suspend_dormant().await.unwrap();
        assert_eq!(app.store.user(&sam).await.unwrap().unwrap().status, "active");
        assert!(!app.store.user_sessions(&sam).await.unwrap().is_empty());

        // Day 90 exactly: the sign-in is refused like any other, the account is suspended and its
        // sessions are ended.
        app.clock.advance(1);
        let mut fresh = app.browser();
        fresh.get("/sign-in").await;
        let r = fresh.post("/sign-in", &[("email", "sam@trust.example"), ("password", GOOD_PASSWORD)]).await;
        assert_ne!(r.location(), Some("/sign-in/verify"), "refused");
        let user = app.store.user(&sam).await.unwrap().unwrap();
        assert_eq!((user.status.as_str(), user.suspended_reason.as_deref()), ("suspended", Some("dormant")));
        assert!(app.store.user_sessions(&sam).await.unwrap().is_empty(), "sessions ended");
        assert!(app.store.live_grants(&sam, app.clock.now()).await.unwrap().is_empty(), "no access while suspended");

        // The controller (last signed in on day 89) reactivates Sam, who can sign in at once and
        // is not suspended again.
        c.sign_in(&app, "cara@trust.example", &c_seed).await;
        let page = c.get("/registries/njr/access").await.body;
        assert!(page.contains("Accounts suspended for dormancy") && page.contains("sam@trust.example"), "{page}");
        let r = c.post("/registries/njr/access/reactivate", &[("user", &sam)]).await;
        assert!(r.body.contains("The account is active again"), "{}", r.body);
        s.sign_in(&app, "sam@trust.example", &s_seed).await;
        assert!(s.get("/access").await.body.contains("id=\"grants\""), "the grant works again");
        // Nobody else can be reactivated through this registry.
        let op = user_id(&app, "oscar@ops.example").await;
        assert_eq!(c.post("/registries/njr/access/reactivate", &[("user", &op)]).await.status, StatusCode::NOT_FOUND);
    }

    async fn the_dashboard_counts_registered_active_suspended_and_invited_accounts(kind: &str) {
        let app = spawn_app_with(kind, |_| {}).await;
        let (mut op, op_seed) = app.operator().await;
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../registries/joints.toml")).unwrap();
        let master = tessera_vault::MasterKey::generate().unwrap();
        app.store.load_dictionary(&Dictionary::from_toml(&text).unwrap(), "toml", &master, &[]).await.unwrap();
        let rrk = Organisation { ods: OdsCode::parse("RRK").unwrap(), name: "Trust".into(), kind: OrganisationKind::NhsTrust, region: "North West".into() };
        app.store.upsert_organisations(&[rrk]).await.unwrap();
        let accounts = app.state.accounts().clone();
        let by = accounts.session(&SessionToken::from_cookie(&op.session_cookie().unwrap())).await.unwrap().unwrap();
        let operator_id = by.user_id().to_owned();
        let client = Client { ip: "192.0.2.1".into(), user_agent: "test".into() };
        let make = |names: Vec<&'static str>| {
            let accounts = accounts.clone();
            let by = by.clone();
            let app = &app;
            async move {
                let rows: Vec<(String, String)> = names.iter().map(|n| (format!("{n}@trust.example"), format!("Person {n}"))).collect();
                accounts.invite_many(&by, &rows).await.unwrap().unwrap();
                for (email, _) in &rows {
                    let link = app.link_for(email);
                    let token = link.rsplit('/').next().unwrap();
                    accounts.accept(token, None, GOOD_PASSWORD, GOOD_PASSWORD, &Client { ip: "192.0.2.1".into(), user_agent: "t".into() }).await.unwrap();
                }
            }
        };
        let grant = |who: &'static str, role: Role, org: Option<&'static str>| {
            let app = &app;
            let operator_id = operator_id.clone();
            async move {
                let user = user_id(app, &format!("{who}@trust.example")).await;
                let now = app.clock.now();
                let id = app.store.insert_access_request(&NewRequest { user_id: &user, registry_id: "njr", role, organisation: org, justification: "synthetic", now }, &[]).await.unwrap();
                let d = Decision { request_id: &id, registry_id: Some("njr"), approver_id: &operator_id, approve: true, reason: "ok", now, grant_expires_at: now + 365 * DAY };
                app.store.decide_request(&d, &[]).await.unwrap();
            }
        };
        let sign_in = |who: &'static str| {
            let accounts = accounts.clone();
            let client = client.clone();
            async move { accounts.sign_in(&format!("{who}@trust.example"), GOOD_PASSWORD, &client).await.unwrap() }
        };

        // Day 0: two accounts that will go dormant (one signed in, one never), one with a grant;
        // an invitation that will expire unaccepted.
        make(vec!["u6", "u7"]).await;
        sign_in("u6").await;
        grant("u6", Role::Submitter, Some("RRK")).await;
        accounts.invite(&by, "x0@trust.example", "Expired Invitation").await.unwrap();
        // Day 89 the operator signs in; day 91 the sweep suspends the two dormant accounts.
        app.clock.advance(89 * DAY);
        op.sign_in(&app, "olivia@ops.example", &op_seed).await;
        app.clock.advance(2 * DAY);
        assert_eq!(accounts.suspend_dormant().await.unwrap(), 2);

        // Day 91: ten more accounts, six of them signed in; grants, pending and refused requests.
        make(vec!["u0", "u1", "u2", "u3", "u4", "u5", "u8", "u9", "u10", "u11"]).await;
        for who in ["u0", "u1", "u2", "u3", "u8", "u9"] {
            sign_in(who).await;
        }
        grant("u0", Role::Submitter, Some("RRK")).await;
        grant("u1", Role::Viewer, None).await;
        let u1 = user_id(&app, "u1@trust.example").await;
        let u4 = user_id(&app, "u4@trust.example").await;
        let u10 = user_id(&app, "u10@trust.example").await;
        let now = app.clock.now();
        for (user, role) in [(&u1, Role::Analyst), (&u4, Role::Viewer)] {
            app.store.insert_access_request(&NewRequest { user_id: user, registry_id: "njr", role, organisation: None, justification: "synthetic", now }, &[]).await.unwrap();
        }
        let refused = app.store.insert_access_request(&NewRequest { user_id: &u10, registry_id: "njr", role: Role::Viewer, organisation: None, justification: "synthetic", now }, &[]).await.unwrap();
        app.store.decide_request(&Decision { request_id: &refused, registry_id: Some("njr"), approver_id: &operator_id, approve: false, reason: "no", now, grant_expires_at: now }, &[]).await.unwrap();
        // Open invitations: two proposing access to njr, one proposing nothing.
        accounts.invite_proposing(&by, "i0@trust.example", "Invited Zero", "njr", "RRK", "submitter").await.unwrap();
        accounts.invite_proposing(&by, "i1@trust.example", "Invited One", "njr", "", "controller").await.unwrap();
        accounts.invite(&by, "i2@trust.example", "Invited Two").await.unwrap();

        op.sign_in(&app, "olivia@ops.example", &op_seed).await;
        let page = op.get("/platform/dashboard").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        // Overall: the operator and twelve people; active: the operator and six; suspended: two;
        // invited: three open (the expired and the accepted ones do not count).
        assert_eq!(row_numbers(&page.body, "counts-all"), vec![13, 7, 2, 3]);
        // njr: u0, u1 (grant and a pending request: once), u4 (pending), u6 (grant, suspended);
        // u10's refused request does not count.
        assert_eq!(row_numbers(&page.body, "counts-njr"), vec![4, 2, 1, 2]);

        // Only operators see it.
        let (mut person, _) = app.member(&mut op, "p@trust.example", "Pat Person").await;
        assert_eq!(person.get("/platform/dashboard").await.status, StatusCode::FORBIDDEN);
    }

    async fn an_invitation_proposing_access_becomes_a_pending_request_that_only_approval_activates(kind: &str) {
        let (app, mut op1, mut op2) = world(kind, |_| {}).await;
        let (mut c, _) = first_controller(&app, &mut op1, &mut op2, "cara@trust.example").await;
        op1.get("/admin/invitations").await;
        let fields = [("email", "ivy@trust.example"), ("name", "Ivy Invited"), ("registry", "njr"), ("role", "submitter"), ("organisation", "RRK")];
        let r = op1.post("/admin/invitations", &fields).await;
        assert!(r.body.contains("The invitation has been sent"), "{}", r.body);
        let bad = [("email", "ned@trust.example"), ("name", "Ned"), ("registry", "njr"), ("role", "submitter"), ("organisation", "ZZZ99")];
        let r = op1.post("/admin/invitations", &bad).await;
        assert!(r.body.contains("There is no organisation with that ODS code"), "{}", r.body);
        let link = app.link_for("ivy@trust.example");
        let mut ivy = app.browser();
        let path = &link[link.find("/welcome/").unwrap()..];
        let token = path.rsplit('/').next().unwrap().to_owned();
        ivy.get(path).await;
        let r = ivy.post("/welcome", &[("token", &token), ("password", GOOD_PASSWORD), ("confirmation", GOOD_PASSWORD)]).await;
        assert_eq!(r.location(), Some("/account/security/setup"), "{}", r.body);
        app.enrol_totp(&mut ivy).await;
        let mine = ivy.get("/access").await.body;
        assert!(mine.contains("Waiting for a decision") && !mine.contains("id=\"grants\""), "{mine}");
        let id = user_id(&app, "ivy@trust.example").await;
        let request = app.store.requests_of_user(&id).await.unwrap().remove(0);
        assert_eq!((request.origin.as_str(), request.organisation.as_deref()), ("invitation", Some("RRK")));
        let page = c.get("/registries/njr/access").await.body;
        assert!(page.contains("ivy@trust.example") && page.contains("an invitation"), "{page}");
        let (_, body) = controller_approves(&mut c, &request.id).await;
        assert!(body.contains("access granted"), "{body}");
        assert!(ivy.get("/access").await.body.contains("id=\"grants\""));
    }

    async fn an_api_token_is_shown_once_needs_step_up_and_is_revocable(kind: &str) {
        let (app, mut op1, mut op2) = world(kind, |_| {}).await;
        let (mut c, _) = first_controller(&app, &mut op1, &mut op2, "cara@trust.example").await;
        let (mut s, _) = app.member(&mut op1, "sam@trust.example", "Sam Submitter").await;
        let id = request(&app, &mut s, "sam@trust.example", "submitter", "RRK").await;
        controller_approves(&mut c, &id).await;
        let page = s.get("/account/tokens").await;
        assert!(page.body.contains("Make a token"), "{}", page.body);
        let fields = [("label", "Theatre system"), ("registry", "njr"), ("organisation", "RQY"), ("write", "yes"), ("days", "30")];
        let r = s.post("/account/tokens", &fields).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "not at another organisation");
        let fields = [("label", "Theatre system"), ("registry", "njr"), ("organisation", "RRK"), ("write", "yes"), ("days", "30")];
        let r = s.post("/account/tokens", &fields).await;
        let secret = crate::helpers::between(&r.body, "id=\"token-secret\">", "<").expect("secret shown");
        assert!(secret.starts_with("tsr_"));
        let again = s.get("/account/tokens").await.body;
        assert!(!again.contains(&secret) && again.contains("Theatre system") && again.contains("Active"), "{again}");
        let token_id = app.store.api_tokens_of(&user_id(&app, "sam@trust.example").await).await.unwrap().remove(0).id;
        let r = s.post("/account/tokens/revoke", &[("token", &token_id)]).await;
        assert!(r.body.contains("The token is revoked"), "{}", r.body);
        assert!(s.get("/account/tokens").await.body.contains("Revoked"));
        // Long after the last second factor, making a token asks for it again.
        app.clock.advance(600);
        s.get("/account/tokens").await;
        let r = s.post("/account/tokens", &fields).await;
        assert!(r.location().is_some_and(|l| l.starts_with("/step-up")), "{:?}", r.location());
    }
}
