//! `tessera serve` over HTTPS with its own certificate (rustls), for deployments without a
//! TLS-terminating proxy. The certificate is made with the `openssl` command and the request is
//! made with `curl`, both from Debian's packages.

mod common;

use std::process::Command;

use common::{Server, ok, tessera};

#[test]
fn serve_speaks_https_when_given_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    let config = t.join("tessera.toml");
    ok(&tessera(&config, &["init", "--dir", t.to_str().unwrap()]));
    let (cert, key) = (t.join("cert.pem"), t.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command makes the test certificate");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n[web]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n", cert.display(), key.display()));
    std::fs::write(&config, text).unwrap();
    let mut server = Server::start(&config, &dir.path().join("server.log"), "info");
    assert!(server.url.starts_with("https://localhost:"), "{}", server.url);
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let out = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&cert)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1"), "-D", "-"])
        .arg(format!("{}/health", server.url))
        .output()
        .expect("curl");
    let response = String::from_utf8_lossy(&out.stdout);
    assert!(response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/2 200"), "{response}");
    assert!(response.to_ascii_lowercase().contains("strict-transport-security"), "{response}");
    assert!(response.ends_with("ok"), "{response}");
    let plain = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}/health"))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200", "no plain HTTP on the TLS port");
    server.stop();
}
