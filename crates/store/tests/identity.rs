//! The identity tables' contract, on both databases: single-use things stay single-use when
//! many callers race for them, links are refused once used, withdrawn or expired, and a reset
//! ends the account's sessions.

use tessera_store::{
    AuditActor, AuditNote, AuditOutcome, LinkPurpose, NewLink, NewSession, SessionStage, Store, StoreError,
};
use tessera_testkit::{TestDb, on_both_databases};

on_both_databases!(
    a_totp_step_and_a_recovery_code_are_accepted_once_among_racing_callers,
    a_link_is_refused_once_used_withdrawn_or_expired,
    a_reset_clears_the_lock_and_ends_every_session,
    failures_count_up_and_lock_at_the_limit,
    each_act_appends_its_event_in_its_own_transaction,
);

fn note(action: &str) -> AuditNote {
    AuditNote::new(AuditActor::System, action, AuditOutcome::Success)
}

/// The actions in the audit log, in order.
async fn actions(store: &Store) -> Vec<String> {
    let head = store.audit_head().await.unwrap();
    store.audit_events(0, head.last_seq, 10_000).await.unwrap().into_iter().map(|r| r.event.unwrap().action).collect()
}

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

async fn account(store: &Store, token: &str) -> String {
    store.create_bootstrap_link(token, 1_000, 5_000).await.unwrap();
    store.accept_link(token, Some(("op@ops.example", "Op Erator")), HASH, 1_001, &note("accept")).await.unwrap()
}

async fn a_totp_step_and_a_recovery_code_are_accepted_once_among_racing_callers(db: &TestDb) {
    let store = Store::connect(db.url()).await.unwrap();
    let user = account(&store, "t1").await;
    let factor = store.add_totp(&user, "app", b"sealed", 1_002).await.unwrap();
    let tries = (0..8).map(|_| {
        let (store, user, factor) = (store.clone(), user.clone(), factor.clone());
        tokio::spawn(async move { store.spend_totp_step(&user, &factor, 42, 1_003, &[]).await.unwrap() })
    });
    let mut accepted = 0;
    for t in tries {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1, "one of eight racing uses of a step succeeds");
    assert!(!store.spend_totp_step(&user, &factor, 41, 1_004, &[]).await.unwrap(), "an earlier step is refused too");
    assert!(store.spend_totp_step(&user, &factor, 43, 1_004, &[]).await.unwrap());

    store.replace_recovery_codes(&user, &["h1".into(), "h2".into()], 1_005, &[]).await.unwrap();
    let tries = (0..8).map(|_| {
        let (store, user) = (store.clone(), user.clone());
        tokio::spawn(async move { store.spend_recovery_code(&user, "h1", 1_006).await.unwrap() })
    });
    let mut accepted = 0;
    for t in tries {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1);
    assert_eq!(store.recovery_codes_left(&user).await.unwrap(), 1);
}

async fn a_link_is_refused_once_used_withdrawn_or_expired(db: &TestDb) {
    let store = Store::connect(db.url()).await.unwrap();
    store.create_bootstrap_link("b1", 1_000, 4_600).await.unwrap();
    store.create_bootstrap_link("b2", 1_010, 4_610).await.unwrap();
    assert!(store.live_link("b1", 1_011).await.unwrap().is_none(), "withdrawn by the newer one");
    assert!(store.live_link("b2", 4_610).await.unwrap().is_none(), "expired");
    let live = store.live_link("b2", 1_011).await.unwrap().unwrap();
    assert_eq!(live.purpose, LinkPurpose::Bootstrap);
    let op = store.accept_link("b2", Some(("op@ops.example", "Op")), HASH, 1_012, &note("accept")).await.unwrap();
    assert!(matches!(
        store.accept_link("b2", Some(("other@ops.example", "Other")), HASH, 1_013, &note("accept")).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(store.create_bootstrap_link("b3", 1_014, 5_000).await, Err(StoreError::Conflict(_))));
    let invite = |token: &'static str, email: &'static str| NewLink {
        token_hash: token,
        purpose: LinkPurpose::Invitation,
        email: Some(email),
        display_name: Some("Invited Person"),
        user_id: None,
        created_by: Some("x"),
        now: 2_000,
        expires_at: 2_000 + 72 * 3600,
    };
    let mut first = invite("i1", "p@trust.example");
    first.created_by = Some(&op);
    let mut second = invite("i2", "p@trust.example");
    second.created_by = Some(&op);
    store.create_invitations(&[first], &note("invite")).await.unwrap();
    store.create_invitations(&[second], &note("invite")).await.unwrap();
    assert!(store.live_link("i1", 2_001).await.unwrap().is_none(), "re-inviting withdraws the older link");
    assert_eq!(store.open_invitations(2_001).await.unwrap().len(), 1);
    let mut taken = invite("i3", "op@ops.example");
    taken.created_by = Some(&op);
    let mut fine = invite("i4", "q@trust.example");
    fine.created_by = Some(&op);
    assert!(matches!(store.create_invitations(&[fine, taken], &note("invite")).await, Err(StoreError::Conflict(_))));
    assert!(store.live_link("i4", 2_001).await.unwrap().is_none(), "a refused batch writes nothing");
}

async fn a_reset_clears_the_lock_and_ends_every_session(db: &TestDb) {
    let store = Store::connect(db.url()).await.unwrap();
    let user = account(&store, "t1").await;
    for _ in 0..3 {
        store.record_sign_in_failure(&user, 1_100, |_| 0, 3, &[], &[]).await.unwrap();
    }
    assert!(store.user(&user).await.unwrap().unwrap().locked);
    for id in ["s1", "s2"] {
        store
            .create_session(&NewSession {
                id_hash: id,
                user_id: &user,
                stage: SessionStage::Full,
                now: 1_101,
                mfa_at: Some(1_101),
                client_ip: "127.0.0.1",
                user_agent: "test",
            })
            .await
            .unwrap();
    }
    let reset = NewLink {
        token_hash: "r1",
        purpose: LinkPurpose::Reset,
        email: None,
        display_name: None,
        user_id: Some(&user),
        created_by: Some(&user),
        now: 1_102,
        expires_at: 9_000,
    };
    store.create_reset(&reset, &[]).await.unwrap();
    assert_eq!(store.complete_reset("r1", "$argon2id$new", 1_103, &note("reset")).await.unwrap(), user);
    let after = store.user(&user).await.unwrap().unwrap();
    assert!(!after.locked && after.failed_attempts == 0);
    assert_eq!(after.password_hash.as_deref(), Some("$argon2id$new"));
    assert!(store.session("s1").await.unwrap().is_none() && store.session("s2").await.unwrap().is_none());
    assert!(matches!(
        store.complete_reset("r1", "$argon2id$again", 1_104, &note("reset")).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn failures_count_up_and_lock_at_the_limit(db: &TestDb) {
    let store = Store::connect(db.url()).await.unwrap();
    let user = account(&store, "t1").await;
    let tries = (0..20).map(|_| {
        let (store, user) = (store.clone(), user.clone());
        tokio::spawn(
            async move { store.record_sign_in_failure(&user, 1_200, |n| n * 10, 100, &[], &[]).await.unwrap() },
        )
    });
    let mut counts = Vec::new();
    for t in tries {
        counts.push(t.await.unwrap().failed_attempts);
    }
    counts.sort();
    assert_eq!(counts, (1..=20).collect::<Vec<i64>>(), "racing failures are all counted");
    let u = store.user(&user).await.unwrap().unwrap();
    assert_eq!(u.failed_attempts, 20);
    assert!(!u.locked);
    let session = NewSession {
        id_hash: "s9",
        user_id: &user,
        stage: SessionStage::Mfa,
        now: 1_300,
        mfa_at: None,
        client_ip: "127.0.0.1",
        user_agent: "test",
    };
    store.start_signed_in_session(&session, false, &[]).await.unwrap();
    assert_eq!(store.user(&user).await.unwrap().unwrap().failed_attempts, 0);
}

/// Every identity write that is an act appends its events in the same transaction: a lockout's
/// event only with the failure that locks, an enrolment's only when the code is accepted, an
/// account's acceptance as the new account — and a refused act appends nothing.
async fn each_act_appends_its_event_in_its_own_transaction(db: &TestDb) {
    let store = Store::connect(db.url()).await.unwrap();
    let user = account(&store, "t1").await;
    assert_eq!(actions(&store).await, ["accept"]);
    let accepted = store.audit_events(0, 1, 1).await.unwrap().remove(0).event.unwrap();
    assert_eq!(accepted.actor, AuditActor::User(user.clone()), "the new account is the actor");
    assert_eq!(accepted.target.as_deref(), Some(format!("user:{user}").as_str()));

    for _ in 0..3 {
        store
            .record_sign_in_failure(&user, 1_100, |_| 0, 3, &[note("sign_in.failure")], &[note("sign_in.lockout")])
            .await
            .unwrap();
    }
    assert_eq!(
        actions(&store).await,
        ["accept", "sign_in.failure", "sign_in.failure", "sign_in.failure", "sign_in.lockout"]
    );

    let factor = store.add_totp(&user, "app", b"sealed", 1_102).await.unwrap();
    assert!(store.spend_totp_step(&user, &factor, 7, 1_103, &[note("mfa.enrol")]).await.unwrap());
    assert!(!store.spend_totp_step(&user, &factor, 7, 1_104, &[note("mfa.enrol")]).await.unwrap(), "spent");
    assert_eq!(actions(&store).await.last().map(String::as_str), Some("mfa.enrol"));
    assert_eq!(actions(&store).await.len(), 6, "a refused code appends nothing");

    let session = NewSession {
        id_hash: "s1",
        user_id: &user,
        stage: SessionStage::Mfa,
        now: 1_105,
        mfa_at: None,
        client_ip: "127.0.0.1",
        user_agent: "test",
    };
    store.start_signed_in_session(&session, true, &[note("sign_in.success")]).await.unwrap();
    store.pass_second_factor("s1", &user, 1_106, &[note("mfa.success")]).await.unwrap();
    assert_eq!(store.session("s1").await.unwrap().unwrap().stage, SessionStage::Full);
    assert!(!store.user(&user).await.unwrap().unwrap().locked, "a passkey sign-in unlocks");
    store.change_password(&user, "$argon2id$new", "s1", &[note("password.change")]).await.unwrap();
    assert!(store.sign_out("s1", &[note("sign_out")]).await.unwrap());
    assert!(!store.sign_out("s1", &[note("sign_out")]).await.unwrap(), "already gone: no event");
    assert_eq!(
        actions(&store).await[6..],
        ["sign_in.success", "mfa.success", "password.change", "sign_out"].map(String::from)
    );
}
