//! `tessera gs1 parse` through the real binary: JSON elements with ISO dates, the separator
//! typed as `\x1d` or `<GS>`, and a refusal that names the AI, with exit status 1.

use std::process::{Command, Output};

use serde_json::{Value, json};

fn gs1_parse(input: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["gs1", "parse", input, "--today", "2026-12-02"])
        .output()
        .expect("run tessera")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

#[test]
fn a_scanned_implant_label_prints_its_elements_with_iso_dates() {
    for separator in ["\\x1d", "<GS>", "<gs>", "\u{1d}"] {
        let out = gs1_parse(&format!("]d2010501234567890017280200\\x1d10LOT-7{separator}21SN1"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        let v = stdout_json(&out);
        assert_eq!(v["symbology"], "]d2");
        assert_eq!(v["syntax"], "element string");
        assert_eq!(
            v["elements"],
            json!([
                { "ai": "01", "title": "GTIN", "value": "05012345678900" },
                { "ai": "17", "title": "USE BY OR EXPIRY", "value": "280200", "date": "2028-02-29" },
                { "ai": "10", "title": "BATCH/LOT", "value": "LOT-7" },
                { "ai": "21", "title": "SERIAL", "value": "SN1" },
            ]),
            "separator {separator:?}"
        );
        assert_eq!(v["bracketed"], "(01)05012345678900(17)280200(10)LOT-7(21)SN1");
    }
}

#[test]
fn a_digital_link_and_the_bracketed_form_print_the_same_elements() {
    let link = stdout_json(&gs1_parse("https://id.gs1.org/01/09520123456788/10/ABC1/21/12345?17=180426"));
    let bracketed = stdout_json(&gs1_parse("(01)09520123456788(10)ABC1(21)12345(17)180426"));
    assert_eq!(link["syntax"], "GS1 Digital Link");
    assert_eq!(bracketed["syntax"], "bracketed");
    assert_eq!(link["elements"], bracketed["elements"]);
    assert_eq!(link["elements"][3]["date"], "2018-04-26");
}

#[test]
fn a_bad_scan_prints_the_error_naming_the_ai_and_fails() {
    let out = gs1_parse("0105012345678900<GS>17271301");
    assert_eq!(out.status.code(), Some(1));
    let v = stdout_json(&out);
    assert_eq!(v["ai"], "17");
    assert_eq!(v["position"], 17);
    assert_eq!(v["error"], "AI (17) at position 17: month 13 is not 01-12 (dates are YYMMDD)");
    assert_eq!(v["input"], "0105012345678900<GS>17271301");

    let hibcc = gs1_parse("+A99912345/$$52001510X3");
    assert_eq!(hibcc.status.code(), Some(1));
    let error = stdout_json(&hibcc)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("HIBCC") && error.contains("not parse it yet"), "{error}");
}
