//! The identity tables' contract, on both databases: single-use things stay single-use when
//! many callers race for them, links are refused once used, withdrawn or expired, and a reset
//! ends the account's sessions.

use tessera_store::{LinkPurpose, NewLink, NewSession, SessionStage, Store, StoreError};
use tessera_testkit::{TestDb, on_both_databases};

on_both_databases!(
    a_totp_step_and_a_recovery_code_are_accepted_once_among_racing_callers,
    a_link_is_refused_once_used_withdrawn_or_expired,
    a_reset_clears_the_lock_and_ends_every_session,
    failures_count_up_and_lock_at_the_limit,
);

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

async fn account(store: &Store, token: &str) -> String {
    store.create_bootstrap_link(token, 1_000, 5_000).await.unwrap();
    store.accept_link(token, Some(("op@ops.example", "Op Erator")), HASH, 1_001).await.unwrap()
}

async fn a_totp_step_and_a_recovery_code_are_accepted_once_among_racing_callers(db: &TestDb) {
    let store = Store::connect(db.url()).await.unwrap();
    let user = account(&store, "t1").await;
    let factor = store.add_totp(&user, "app", b"sealed", 1_002).await.unwrap();
    let tries = (0..8).map(|_| {
        let (store, user, factor) = (store.clone(), user.clone(), factor.clone());
        tokio::spawn(async move { store.spend_totp_step(&user, &factor, 42, 1_003).await.unwrap() })
    });
    let mut accepted = 0;
    for t in tries {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1, "one of eight racing uses of a step succeeds");
    assert!(!store.spend_totp_step(&user, &factor, 41, 1_004).await.unwrap(), "an earlier step is refused too");
    assert!(store.spend_totp_step(&user, &factor, 43, 1_004).await.unwrap());

    store.replace_recovery_codes(&user, &["h1".into(), "h2".into()], 1_005).await.unwrap();
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
    let op = store.accept_link("b2", Some(("op@ops.example", "Op")), HASH, 1_012).await.unwrap();
    assert!(matches!(
        store.accept_link("b2", Some(("other@ops.example", "Other")), HASH, 1_013).await,
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
    store.create_invitations(&[first]).await.unwrap();
    store.create_invitations(&[second]).await.unwrap();
    assert!(store.live_link("i1", 2_001).await.unwrap().is_none(), "re-inviting withdraws the older link");
    assert_eq!(store.open_invitations(2_001).await.unwrap().len(), 1);
    let mut taken = invite("i3", "op@ops.example");
    taken.created_by = Some(&op);
    let mut fine = invite("i4", "q@trust.example");
    fine.created_by = Some(&op);
    assert!(matches!(store.create_invitations(&[fine, taken]).await, Err(StoreError::Conflict(_))));
    assert!(store.live_link("i4", 2_001).await.unwrap().is_none(), "a refused batch writes nothing");
}

async fn a_reset_clears_the_lock_and_ends_every_session(db: &TestDb) {
    let store = Store::connect(db.url()).await.unwrap();
    let user = account(&store, "t1").await;
    for _ in 0..3 {
        store.record_sign_in_failure(&user, 1_100, |_| 0, 3).await.unwrap();
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
    store.create_reset(&reset).await.unwrap();
    assert_eq!(store.complete_reset("r1", "$argon2id$new", 1_103).await.unwrap(), user);
    let after = store.user(&user).await.unwrap().unwrap();
    assert!(!after.locked && after.failed_attempts == 0);
    assert_eq!(after.password_hash.as_deref(), Some("$argon2id$new"));
    assert!(store.session("s1").await.unwrap().is_none() && store.session("s2").await.unwrap().is_none());
    assert!(matches!(store.complete_reset("r1", "$argon2id$again", 1_104).await, Err(StoreError::NotFound(_))));
}

async fn failures_count_up_and_lock_at_the_limit(db: &TestDb) {
    let store = Store::connect(db.url()).await.unwrap();
    let user = account(&store, "t1").await;
    let tries = (0..20).map(|_| {
        let (store, user) = (store.clone(), user.clone());
        tokio::spawn(async move { store.record_sign_in_failure(&user, 1_200, |n| n * 10, 100).await.unwrap() })
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
    store.record_sign_in_success(&user, 1_300, false).await.unwrap();
    assert_eq!(store.user(&user).await.unwrap().unwrap().failed_attempts, 0);
}
