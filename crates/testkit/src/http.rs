//! A small HTTP client that behaves like a browser for black-box tests: a cookie jar (keeping
//! `Secure` cookies over plain HTTP, as browsers do for localhost), no automatic redirects, and
//! the CSRF token of the last page, added to the forms it posts.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

/// The text between `start` and the next `end`.
pub fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_owned())
}

/// A response, read whole.
pub struct Page {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body text.
    pub body: String,
}

impl Page {
    /// The `Location` header of a redirect.
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }
}

/// A browser: keeps cookies (ignoring `Secure`, as browsers do on localhost) and the CSRF
/// token of the last page it loaded, which it adds to the forms it posts.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    /// Cookies by name.
    pub cookies: BTreeMap<String, String>,
    /// The CSRF token of the last page.
    pub csrf: String,
    /// Recovery codes the test kept.
    pub recovery_codes: Vec<String>,
}

impl Browser {
    /// A browser for the server at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: base.to_owned(), client, cookies: BTreeMap::new(), csrf: String::new(), recovery_codes: vec![] }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&mut self, r: reqwest::Response) -> Page {
        for v in r.headers().get_all(SET_COOKIE) {
            let text = v.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap();
        if let Some(t) = between(&body, "<meta name=\"csrf-token\" content=\"", "\"") {
            self.csrf = t;
        }
        Page { status, headers, body }
    }

    /// GET.
    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// Posts a form with the current CSRF token.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone();
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts a form exactly as given (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(fields)
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// POST a JSON body.
    pub async fn post_json(&mut self, path: &str, body: serde_json::Value) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .json(&body)
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// DELETE.
    pub async fn delete(&mut self, path: &str) -> Page {
        let r = self
            .client
            .delete(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// The session cookie.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get("__Host-tessera-session").cloned()
    }

    /// Accepts a bootstrap link (`http://…/welcome/TOKEN`) as the first platform operator and
    /// opens the authenticator-app page. Returns its setup key (base32) and factor id, for the
    /// caller to confirm with a code.
    pub async fn bootstrap_operator(
        &mut self,
        link: &str,
        name: &str,
        email: &str,
        password: &str,
    ) -> (String, String) {
        let path = &link[link.find("/welcome/").expect("a bootstrap link")..];
        self.get(path).await;
        let token = path.rsplit('/').next().unwrap_or_default().to_owned();
        let fields = [
            ("token", token.as_str()),
            ("name", name),
            ("email", email),
            ("password", password),
            ("confirmation", password),
        ];
        let r = self.post("/welcome", &fields).await;
        assert_eq!(r.location(), Some("/account/security/setup"), "{}", r.body);
        let page = self.get("/account/security/totp").await;
        let secret = between(&page.body, "id=\"totp-secret\">", "<").expect("the setup key on the page");
        let factor = between(&page.body, "name=\"factor\" value=\"", "\"").expect("the factor id on the page");
        (secret, factor)
    }
}
