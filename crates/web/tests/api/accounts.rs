//! Bootstrap, invitations, passwords, second factors and resets.

use reqwest::StatusCode;

use crate::helpers::{BrowserExt as _, GOOD_PASSWORD, between, spawn_app};
use crate::on_both;

on_both! {
    async fn the_bootstrap_link_makes_one_operator_and_works_once(kind: &str) {
        let app = spawn_app(kind).await;
        let first = app.state.accounts().bootstrap_link().await.unwrap().unwrap();
        let second = app.state.accounts().bootstrap_link().await.unwrap().unwrap();
        assert_ne!(*first, *second);
        let path = |l: &str| l[l.find("/welcome/").unwrap()..].to_owned();
        let mut b = app.browser();
        assert_eq!(b.get(&path(&first)).await.status, StatusCode::GONE, "a newer link withdraws the older");
        let (mut operator, _) = {
            // Expiry: one hour.
            app.clock.advance(3601);
            assert_eq!(b.get(&path(&second)).await.status, StatusCode::GONE, "expired after an hour");
            app.operator().await
        };
        assert!(app.state.accounts().bootstrap_link().await.unwrap().is_none(), "no bootstrap once an account exists");
        let home = operator.get("/").await;
        assert!(home.body.contains("Welcome, Olivia Operator"), "{}", home.body);
        assert!(home.body.contains("Invite people"));
        let stored: Vec<String> = app.store.users().await.unwrap().into_iter().map(|u| u.password_hash.unwrap()).collect();
        assert!(stored[0].starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "Argon2id with OWASP's parameters");
    }

    async fn an_invitation_works_once_and_carries_no_secret(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        let (mut member, seed) = app.member(&mut op, "Sam.Surgeon@Trust.example", "Sam Surgeon").await;
        let emails = app.emails();
        let (to, subject, body) = emails.iter().find(|(t, _, _)| t.contains("sam.surgeon@trust.example")).unwrap();
        assert!(to.contains("sam.surgeon@trust.example"));
        assert_eq!(subject, "Your invitation to Tessera");
        assert!(!body.contains(crate::helpers::GOOD_PASSWORD));
        assert_eq!(body.matches("http").count(), 1, "only the single-use link: {body}");
        // The link is used: it no longer works.
        let link = app.link_for("sam.surgeon@trust.example");
        let mut other = app.browser();
        assert_eq!(other.get(&link[link.find("/welcome/").unwrap()..]).await.status, StatusCode::GONE);
        let token = link.rsplit('/').next().unwrap();
        other.get("/sign-in").await;
        let r = other.post("/welcome", &[("token", token), ("password", GOOD_PASSWORD), ("confirmation", GOOD_PASSWORD)]).await;
        assert_eq!(r.status, StatusCode::GONE);
        // The member is fully signed in after enrolment, and can sign in again.
        assert!(member.get("/").await.body.contains("Welcome, Sam Surgeon"));
        member.get("/").await;
        member.post("/sign-out", &[]).await;
        let home = member.sign_in(&app, "sam.surgeon@trust.example", &seed).await;
        assert!(home.body.contains("Welcome, Sam Surgeon"));
        // Being told about the new factor.
        assert!(app.emails().iter().any(|(t, s, _)| t.contains("sam.surgeon") && s.contains("sign-in method was added")));
    }

    async fn an_expired_invitation_cannot_be_accepted(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        op.get("/admin/invitations").await;
        op.post("/admin/invitations", &[("email", "late@trust.example"), ("name", "Lee Late")]).await;
        let link = app.link_for("late@trust.example");
        app.clock.advance(72 * 3600 + 1);
        let mut b = app.browser();
        let page = b.get(&link[link.find("/welcome/").unwrap()..]).await;
        assert_eq!(page.status, StatusCode::GONE);
        assert!(page.body.contains("expired or has already been used"));
    }

    async fn nothing_is_reachable_before_a_second_factor_is_enrolled(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        op.get("/admin/invitations").await;
        op.post("/admin/invitations", &[("email", "new@trust.example"), ("name", "Nia New")]).await;
        let link = app.link_for("new@trust.example");
        let token = link.rsplit('/').next().unwrap().to_owned();
        let mut b = app.browser();
        b.get(&link[link.find("/welcome/").unwrap()..]).await;
        let r = b.post("/welcome", &[("token", &token), ("password", GOOD_PASSWORD), ("confirmation", GOOD_PASSWORD)]).await;
        assert_eq!(r.location(), Some("/account/security/setup"));
        for path in ["/", "/account", "/admin/invitations", "/account/security/recovery-codes"] {
            assert_eq!(b.get(path).await.location(), Some("/account/security/setup"), "{path}");
        }
        assert_eq!(b.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
        // Signing in again with the password alone still only reaches enrolment.
        b.post("/sign-out", &[]).await;
        b.get("/sign-in").await;
        let r = b.post("/sign-in", &[("email", "new@trust.example"), ("password", GOOD_PASSWORD)]).await;
        assert_eq!(r.location(), Some("/account/security/setup"));
        assert_eq!(b.get("/").await.location(), Some("/account/security/setup"));
    }

    async fn weak_passwords_are_refused_with_the_reason(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        op.get("/admin/invitations").await;
        op.post("/admin/invitations", &[("email", "pat.jones@trust.example"), ("name", "Pat Jones")]).await;
        let link = app.link_for("pat.jones@trust.example");
        let token = link.rsplit('/').next().unwrap().to_owned();
        let mut b = app.browser();
        b.get(&link[link.find("/welcome/").unwrap()..]).await;
        for (password, reason) in [
            ("short one", "at least 12 characters"),
            ("1234567890123", "most commonly used passwords"),
            ("abcabcabcabcabcabc", "easy to guess"),
            ("i-am-pat.jones-at-work", "email address"),
            ("jones family holidays 2024", "your name"),
        ] {
            let r = b.post("/welcome", &[("token", &token), ("password", password), ("confirmation", password)]).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{password}");
            let shown = between(&r.body, "<li><a href=\"#password\">", "</a>").unwrap_or_default();
            assert!(shown.contains(reason), "{password}: {shown}");
        }
        let r = b.post("/welcome", &[("token", &token), ("password", GOOD_PASSWORD), ("confirmation", "different words entirely")]).await;
        assert!(r.body.contains("do not match"));
        // Any Unicode, normalised: a long Welsh phrase is fine.
        let welsh = "Mae hen wlad fy nhadau yn annwyl i mi";
        let r = b.post("/welcome", &[("token", &token), ("password", welsh), ("confirmation", welsh)]).await;
        assert_eq!(r.location(), Some("/account/security/setup"), "{}", r.body);
    }

    async fn a_totp_code_works_once(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, seed) = app.operator().await;
        op.post("/sign-out", &[]).await;
        op.get("/sign-in").await;
        op.post("/sign-in", &[("email", "olivia@ops.example"), ("password", GOOD_PASSWORD)]).await;
        op.get("/sign-in/verify").await;
        app.clock.advance(30);
        let code = tessera_auth::totp::code_at(&seed, app.clock.now());
        assert_eq!(op.post("/sign-in/verify", &[("code", &code)]).await.location(), Some("/"));
        // A second sign-in within the same 30 seconds with the same code is refused.
        let mut other = app.browser();
        other.get("/sign-in").await;
        other.post("/sign-in", &[("email", "olivia@ops.example"), ("password", GOOD_PASSWORD)]).await;
        other.get("/sign-in/verify").await;
        let r = other.post("/sign-in/verify", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("already been used"));
        // Also an older code (the previous step, within the drift window) is refused now.
        let older = tessera_auth::totp::code_at(&seed, app.clock.now() - 30);
        assert_eq!(other.post("/sign-in/verify", &[("code", &older)]).await.status, StatusCode::UNAUTHORIZED);
        // A recovery code works, once.
        let recovery = op.recovery_codes[0].clone();
        assert_eq!(other.post("/sign-in/verify", &[("recovery", &recovery)]).await.location(), Some("/"));
        let mut third = app.browser();
        third.get("/sign-in").await;
        third.post("/sign-in", &[("email", "olivia@ops.example"), ("password", GOOD_PASSWORD)]).await;
        third.get("/sign-in/verify").await;
        assert_eq!(third.post("/sign-in/verify", &[("recovery", &recovery)]).await.status, StatusCode::UNAUTHORIZED);
    }

    async fn a_reset_is_chosen_by_the_person_never_the_administrator(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        let (mut member, seed) = app.member(&mut op, "rita@trust.example", "Rita Reset").await;
        let users = op.get("/admin/users").await;
        let id = app.store.user_by_email("rita@trust.example").await.unwrap().unwrap().id;
        assert!(users.body.contains("Rita Reset"));
        let r = op.post("/admin/users/reset", &[("user", &id)]).await;
        assert!(r.body.contains("You will not see it"), "{}", r.body);
        assert!(!r.body.contains("/reset/"), "the operator never sees the link");
        let link = app.link_for("rita@trust.example");
        assert!(link.contains("/reset/"));
        let token = link.rsplit('/').next().unwrap().to_owned();
        let mut b = app.browser();
        assert_eq!(b.get(&link[link.find("/reset/").unwrap()..]).await.status, StatusCode::OK);
        let new_password = "marmalade harbour violin 7";
        let r = b.post("/reset", &[("token", &token), ("password", new_password), ("confirmation", new_password)]).await;
        assert_eq!(r.location(), Some("/sign-in?done=reset"), "{}", r.body);
        // Her old session ended; the link is spent; the new password works with her TOTP.
        assert_eq!(member.get("/").await.location(), Some("/sign-in"));
        assert_eq!(b.get(&link[link.find("/reset/").unwrap()..]).await.status, StatusCode::GONE);
        b.get("/sign-in").await;
        let r = b.post("/sign-in", &[("email", "rita@trust.example"), ("password", new_password)]).await;
        assert_eq!(r.location(), Some("/sign-in/verify"));
        b.get("/sign-in/verify").await;
        let code = app.next_code(&seed);
        assert_eq!(b.post("/sign-in/verify", &[("code", &code)]).await.location(), Some("/"));
        assert!(app.emails().iter().any(|(t, s, _)| t.contains("rita@") && s == "Your Tessera password was changed"));
    }

    async fn bulk_invitations_are_all_or_nothing(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        op.get("/admin/invitations").await;
        let bad = "email,name\na1@trust.example,Ann One\nnot-an-address,Bad Row\na1@trust.example,Ann Again\n,\n";
        let r = op.post("/admin/invitations/bulk", &[("csv", bad)]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        for problem in ["row 2: email:", "row 3: email: the same address", "row 4: email:", "row 4: name:"] {
            assert!(r.body.contains(problem), "{problem} in {}", r.body);
        }
        assert_eq!(app.emails().len(), 1, "only the operator's own notice: nobody was invited");
        let good = "email,name\na1@trust.example,Ann One\nb2@trust.example,Ben Two\nc3@trust.example,Cat Three\n";
        let r = op.post("/admin/invitations/bulk", &[("csv", good)]).await;
        assert!(r.body.contains("3 invitations have been sent"), "{}", r.body);
        let links: Vec<String> = ["a1", "b2", "c3"].iter().map(|p| app.link_for(&format!("{p}@trust.example"))).collect();
        assert_eq!(links.iter().collect::<std::collections::HashSet<_>>().len(), 3, "each person has their own link");
        assert_eq!(app.store.open_invitations(app.clock.now()).await.unwrap().len(), 3);
        app.clock.advance(72 * 3600 + 1);
        assert_eq!(app.store.open_invitations(app.clock.now()).await.unwrap().len(), 0, "unaccepted invitations expire");
    }

    async fn the_last_second_factor_cannot_be_removed(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        let account = op.get("/account").await;
        let id = between(&account.body, "name=\"kind\" value=\"totp\">\n            <input type=\"hidden\" name=\"id\" value=\"", "\"").unwrap();
        let r = op.post("/account/security/revoke", &[("kind", "totp"), ("id", &id)]).await;
        assert!(r.body.contains("cannot remove your only sign-in method"), "{}", r.body);
        assert_eq!(app.store.factor_count(&app.store.users().await.unwrap()[0].id).await.unwrap(), 1);
    }

    async fn a_role_can_be_required_to_use_passkeys(kind: &str) {
        let app = crate::helpers::spawn_app_with(kind, |s| s.passkey_required_roles = vec!["operator".into()]).await;
        let link = app.state.accounts().bootstrap_link().await.unwrap().unwrap();
        let path = &link[link.find("/welcome/").unwrap()..];
        let mut b = app.browser();
        b.get(path).await;
        let token = path.rsplit('/').next().unwrap();
        let fields = [("token", token), ("name", "Pat Passkey"), ("email", "pat@ops.example"), ("password", GOOD_PASSWORD), ("confirmation", GOOD_PASSWORD)];
        assert_eq!(b.post("/welcome", &fields).await.location(), Some("/account/security/setup"));
        let setup = b.get("/account/security/setup").await;
        assert!(!setup.body.contains("choose-totp"), "no authenticator app offered");
        assert!(setup.body.contains("Your role requires a passkey"));
        assert!(setup.body.contains("passkey-register"));
        assert_eq!(b.get("/account/security/totp").await.location(), Some("/account/security/setup"));
        assert_eq!(b.get("/").await.location(), Some("/account/security/setup"), "still nothing else reachable");
    }
}
