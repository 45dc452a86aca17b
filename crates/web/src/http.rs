//! Middleware every response passes through: security headers, request ids and the request log.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy: our own origin only, no inline script or style, no framing.
/// `img-src data:` admits the TOTP QR code, an SVG data URI.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'; manifest-src 'self'";

/// Adds the security headers to every response, and `Cache-Control: no-store` to everything
/// but static assets (pages may carry patient data; API responses always may).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = {
        let p = request.uri().path();
        p.starts_with("/assets/") || p.starts_with("/static/")
    };
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(h, HeaderName::from_static("cross-origin-resource-policy"), "same-origin");
    set(h, HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=(), payment=()");
    if is_asset {
        set(h, header::CACHE_CONTROL, "public, max-age=3600");
    } else {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// A request's id, also sent back as `X-Request-Id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Gives each request an id and logs one line per request: method, **route template** (never
/// the path or query: single-use links carry their token in the path), status, duration.
pub async fn log_requests(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = uuid::Uuid::now_v7().simple().to_string();
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let mut response = next.run(request).await;
    let route = route.unwrap_or_else(|| "(unmatched)".into());
    let status = response.status().as_u16();
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
    }
    let micros = started.elapsed().as_micros();
    if status >= 500 {
        tracing::error!(request_id = %id, %method, route, status, micros, "request");
    } else {
        tracing::debug!(request_id = %id, %method, route, status, micros, "request");
    }
    response
}

/// The client's address and browser, for throttling and the session list. The peer address
/// only: trusting `X-Forwarded-For` from configured proxies comes with network allowlists.
pub fn client(request_parts: &axum::http::request::Parts, trusted_proxies: &[ipnet::IpNet]) -> tessera_auth::Client {
    let peer = request_parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip());
    let ip = match peer {
        Some(peer) => forwarded_for(request_parts, peer, trusted_proxies),
        None => "unknown".to_owned(),
    };
    let user_agent = request_parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    tessera_auth::Client { ip, user_agent }
}

/// The client's address: the connection's, unless it comes from a trusted proxy, in which case
/// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further
/// left were written by the client and prove nothing). Without trusted proxies the header is
/// ignored, so nobody can claim an allowlisted address by sending it. Through a trusted proxy,
/// a missing or unreadable header, or one naming only trusted proxies, gives `unknown`, which
/// no allowlist admits: the proxy's own (often internal) address must never stand in for the
/// client's.
fn forwarded_for(parts: &axum::http::request::Parts, peer: std::net::IpAddr, trusted: &[ipnet::IpNet]) -> String {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    let mut hops: Vec<&str> = Vec::new();
    for value in parts.headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else { return "unknown".into() };
        hops.extend(text.split(',').map(str::trim));
    }
    for hop in hops.into_iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return ip.to_string(),
            Err(_) => return "unknown".into(),
        }
    }
    "unknown".into()
}
