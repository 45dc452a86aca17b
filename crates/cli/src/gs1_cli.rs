//! `tessera gs1 parse <input>`: what Tessera reads from a barcode, as JSON, for people setting up
//! or debugging scanners. A shell argument cannot easily hold the group separator (ASCII 29) that
//! a scanner sends for FNC1, so `\x1d` or `<GS>` in the argument stands for it.

use std::process::ExitCode;

use serde_json::{Value, json};
use tessera_domain::gs1::{self, GS, Gs1Message, Syntax};
use time::Date;

/// `tessera gs1 …`.
#[derive(Debug, clap::Subcommand)]
pub enum Gs1Command {
    /// Parse one barcode's data (raw scanner output with or without symbology identifier, the
    /// bracketed form, or a GS1 Digital Link URI) and print its elements as JSON, or the error
    /// naming the AI and the reason (exit status 1). Write the group separator as `\x1d` or `<GS>`.
    Parse {
        /// The scanned data, e.g. `]d201050123456789001728020010LOT<GS>21SN1`.
        #[arg(allow_hyphen_values = true)]
        input: String,
        /// The day to read two-digit years against (YYYY-MM-DD; default today, UTC).
        #[arg(long)]
        today: Option<String>,
    },
}

/// Runs a `tessera gs1` command: the JSON goes to standard output either way.
pub fn run(command: Gs1Command) -> anyhow::Result<ExitCode> {
    match command {
        Gs1Command::Parse { input, today } => {
            let today = match today {
                Some(t) => Date::parse(&t, time::macros::format_description!("[year]-[month]-[day]"))
                    .map_err(|e| anyhow::anyhow!("--today {t:?}: {e} (expected YYYY-MM-DD)"))?,
                None => crate::today(),
            };
            let (out, ok) = parse_to_json(&input, today);
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

/// Replaces the typed stand-ins for the group separator (`\x1d`, `<GS>`, either case) with it.
pub fn unescape(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while !rest.is_empty() {
        let stand_in =
            ["\\x1d", "<gs>"].into_iter().find(|s| rest.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)));
        match stand_in {
            Some(s) => {
                out.push(GS);
                rest = &rest[s.len()..];
            }
            None => {
                let c = rest.chars().next().expect("not empty");
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// The JSON for one input, and whether it parsed.
pub fn parse_to_json(input: &str, today: Date) -> (Value, bool) {
    let data = unescape(input);
    match gs1::parse(&data, today) {
        Ok(message) => (message_json(&message), true),
        Err(e) => (
            json!({
                "error": e.to_string(),
                "ai": e.ai(),
                "position": e.position(),
                // What was parsed, with the separator shown, so a position can be counted.
                "input": data.replace(GS, "<GS>"),
            }),
            false,
        ),
    }
}

fn message_json(m: &Gs1Message) -> Value {
    let elements: Vec<Value> = m
        .elements()
        .iter()
        .map(|e| {
            let mut v = json!({ "ai": e.ai(), "title": e.title(), "value": e.value() });
            if let Some(d) = e.date() {
                v["date"] = json!(d.to_string());
            }
            v
        })
        .collect();
    json!({
        "syntax": match m.syntax() {
            Syntax::ElementString => "element string",
            Syntax::Bracketed => "bracketed",
            Syntax::DigitalLink => "GS1 Digital Link",
        },
        "symbology": m.symbology().map(|s| s.identifier()),
        "elements": elements,
        "bracketed": m.to_bracketed(),
    })
}
