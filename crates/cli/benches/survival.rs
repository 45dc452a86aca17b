//! Survival benchmark: Kaplan–Meier by brand and the log-rank test across brands on 10 million
//! procedures, Tessera's engine against R's `survival` (`survfit` + `survdiff`), Python's
//! `lifelines` (`KaplanMeierFitter` per brand + `multivariate_logrank_test`) and a vectorised
//! numpy floor, all on the same CSV, each timing its load and its compute separately. Checks
//! that Tessera's chi-square equals R's to 1e-9 relative and prints the ratios against the
//! targets (≥ 50× faster than R, within 2× of numpy).
//!
//! `cargo bench -p tessera --bench survival` (or `scripts/bench.sh survival`). Options after
//! `--`: `--rows N` (default 10,000,000), `--reps N` (timed runs of Tessera and numpy, default
//! 5), `--r-reps N` (default 1: R takes minutes on 10M rows), `--lifelines-rows N` (default: all
//! rows, falling back to 1,000,000 if lifelines needs more than `--lifelines-timeout` seconds,
//! default 600; it runs once), `--skip-r`, `--skip-numpy`, `--skip-lifelines`. The CSV is generated once, reproducibly, under
//! `$TESSERA_BENCH_DIR` (default: the system temporary folder), never in the repository. The
//! scripts are in `scripts/bench/`.

use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use tessera_domain::survival::{ConfType, kaplan_meier_by_group, log_rank};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BRANDS: usize = 50;
const SEED: u64 = 20_240_607;
/// Registry follow-up: twenty years of entries, analysed at the end of the twentieth.
const YEARS: f64 = 20.0;

fn args() -> Vec<String> {
    std::env::args().collect()
}

fn arg(name: &str) -> Option<u64> {
    let a = args();
    a.iter().position(|x| x == name).and_then(|i| a.get(i + 1)).and_then(|v| v.replace('_', "").parse().ok())
}

fn flag(name: &str) -> bool {
    args().iter().any(|a| a == name)
}

/// SplitMix64: small, fast and reproducible; plenty for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1), never 0 (so its logarithm is finite).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn exponential(&mut self) -> f64 {
        -self.unit().ln()
    }
}

/// Writes `rows` procedures, `time,event,brand`: time in whole days (heavy ties, as registry
/// data), event 1 for a revision (about 5%), 0 for censoring at death or the data cut-off.
/// Brands have Zipf market shares (the largest about a fifth, the smallest under 0.5%) and
/// revision hazards from 0.5× to 2× a common Weibull hazard with early failures (shape 0.6);
/// three brands are poor performers at 3×. Death: 3.5% a year; entry uniform over 20 years.
fn generate(path: &Path, rows: u64) {
    let mut rng = Rng(SEED);
    let shares: Vec<f64> = (0..BRANDS).map(|b| 1.0 / (b as f64 + 1.0)).collect();
    let total: f64 = shares.iter().sum();
    let mut cumulative = Vec::with_capacity(BRANDS);
    let mut acc = 0.0;
    for s in &shares {
        acc += s / total;
        cumulative.push(acc);
    }
    let hazard: Vec<f64> = (0..BRANDS)
        .map(|b| {
            let m = 0.5 + 1.5 * Rng(SEED ^ (b as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)).unit();
            if [5, 17, 33].contains(&b) { 3.0 * m } else { m }
        })
        .collect();
    let (shape, scale) = (0.6, 1800.0);
    let tmp = path.with_extension("partial");
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
    writeln!(out, "time,event,brand").unwrap();
    for _ in 0..rows {
        let u = rng.unit();
        let brand = cumulative.iter().position(|&c| u <= c).unwrap_or(BRANDS - 1);
        // Cumulative hazard m·(t/scale)^shape, inverted at an exponential draw.
        let revision = scale * (rng.exponential() / hazard[brand]).powf(1.0 / shape);
        let death = rng.exponential() / 0.035;
        let follow_up = YEARS * rng.unit();
        let (years, event) = if revision <= death.min(follow_up) { (revision, 1) } else { (death.min(follow_up), 0) };
        let days = ((years * 365.25).ceil() as u64).max(1);
        writeln!(out, "{days},{event},{brand}").unwrap();
    }
    out.into_inner().unwrap().sync_all().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The columns Tessera's engine takes.
struct Columns {
    time: Vec<f64>,
    event: Vec<bool>,
    brand: Vec<u32>,
}

impl Columns {
    /// Reads the file whole and parses it in one pass over its bytes. A file without quotes
    /// (as this one) is split at commas and line breaks directly, with whole numbers read digit
    /// by digit; a file with quotes goes through the csv crate.
    fn load(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap();
        let body_start = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1);
        let body = &bytes[body_start..];
        if body.contains(&b'"') {
            return Self::parse_csv(body);
        }
        let rows = body.iter().filter(|&&b| b == b'\n').count() + 1;
        let mut c = Columns {
            time: Vec::with_capacity(rows),
            event: Vec::with_capacity(rows),
            brand: Vec::with_capacity(rows),
        };
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let mut fields = line.split(|&b| b == b',');
            let (time, event, brand) = (fields.next().unwrap(), fields.next().unwrap(), fields.next().unwrap());
            c.time.push(
                whole(time).map_or_else(|| std::str::from_utf8(time).unwrap().trim().parse().unwrap(), |n| n as f64),
            );
            c.event.push(event == b"1");
            c.brand.push(whole(brand).expect("brand is a whole number") as u32);
        }
        c
    }

    /// Parses header-less CSV rows `time,event,brand` with the csv crate.
    fn parse_csv(text: &[u8]) -> Self {
        fn field(rec: &csv::ByteRecord, i: usize) -> &str {
            std::str::from_utf8(&rec[i]).unwrap().trim()
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text);
        let mut c = Columns { time: Vec::new(), event: Vec::new(), brand: Vec::new() };
        let mut rec = csv::ByteRecord::new();
        while reader.read_byte_record(&mut rec).unwrap() {
            c.time.push(field(&rec, 0).parse().unwrap());
            c.event.push(&rec[1] == b"1");
            c.brand.push(field(&rec, 2).parse().unwrap());
        }
        c
    }

    fn head(&self, n: usize) -> Self {
        let n = n.min(self.time.len());
        Columns { time: self.time[..n].to_vec(), event: self.event[..n].to_vec(), brand: self.brand[..n].to_vec() }
    }
}

/// The value of a field of 1 to 18 ASCII digits, or `None` for anything else.
fn whole(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 18 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(field.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// One tool's figures (seconds), as the scripts print them.
struct Run {
    tool: String,
    version: String,
    rows: u64,
    load: f64,
    km: f64,
    log_rank: f64,
    compute: f64,
    chisq: f64,
    steps: u64,
    surv_sum: f64,
    note: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn tessera(c: &Columns, reps: usize, load: f64) -> Run {
    let (mut km_s, mut lr_s, mut total) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..reps {
        let t0 = Instant::now();
        let curves = kaplan_meier_by_group(&c.time, &c.event, &c.brand, ConfType::Log, 0.95).unwrap();
        let t1 = Instant::now();
        let lr = log_rank(&c.time, &c.event, &c.brand, None).unwrap();
        let t2 = Instant::now();
        km_s.push((t1 - t0).as_secs_f64());
        lr_s.push((t2 - t1).as_secs_f64());
        total.push((t2 - t0).as_secs_f64());
        last = Some((curves, lr));
    }
    let (curves, lr) = last.unwrap();
    Run {
        tool: "Tessera".into(),
        version: format!("tessera {}", env!("CARGO_PKG_VERSION")),
        rows: c.time.len() as u64,
        load,
        km: median(km_s),
        log_rank: median(lr_s),
        compute: median(total),
        chisq: lr.chisq,
        steps: curves.iter().map(|k| k.steps.len() as u64).sum(),
        surv_sum: curves.iter().flat_map(|k| k.steps.iter().map(|s| s.surv)).sum(),
        note: format!("median of {reps}"),
    }
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench")
}

/// Runs a script that prints one JSON line; `None` if it failed or ran out of time.
fn script(program: &str, args: &[String], timeout: Option<u64>, note: &str) -> Option<Run> {
    let mut cmd = match timeout {
        Some(secs) => {
            let mut c = Command::new("timeout");
            c.arg(secs.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    };
    let out = cmd.args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    if !out.status.success() {
        eprintln!("{program} {args:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let secs = |k: &str| median(v[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect());
    let reps = v["compute_s"].as_array().unwrap().len();
    Some(Run {
        tool: v["tool"].as_str().unwrap().into(),
        version: v["version"].as_str().unwrap().into(),
        rows: v["rows"].as_u64().unwrap(),
        load: v["load_s"].as_f64().unwrap(),
        km: secs("km_s"),
        log_rank: secs("logrank_s"),
        compute: secs("compute_s"),
        chisq: v["chisq"].as_str().unwrap().parse().unwrap(),
        steps: v["steps"].as_u64().unwrap(),
        surv_sum: v["surv_sum"].as_str().unwrap().parse().unwrap(),
        note: if note.is_empty() { format!("median of {reps}") } else { format!("median of {reps}; {note}") },
    })
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

fn main() {
    let rows = arg("--rows").unwrap_or(10_000_000);
    let reps = arg("--reps").unwrap_or(5) as usize;
    let timeout = arg("--lifelines-timeout").unwrap_or(600);
    let dir = std::env::var_os("TESSERA_BENCH_DIR")
        .map_or_else(|| std::env::temp_dir().join("tessera-bench-survival"), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join(format!("procedures-{rows}-seed{SEED}.csv"));
    if !csv.exists() {
        let t = Instant::now();
        generate(&csv, rows);
        eprintln!("generated {} in {:.1} s", csv.display(), t.elapsed().as_secs_f64());
    }
    let path = csv.display().to_string();

    let t = Instant::now();
    let columns = Columns::load(&csv);
    let load = t.elapsed().as_secs_f64();
    let events = columns.event.iter().filter(|&&e| e).count();
    let ours = tessera(&columns, reps, load);

    let mut others = Vec::new();
    if !flag("--skip-r") {
        let r = scripts().join("survival_r.R").display().to_string();
        let r_reps = arg("--r-reps").unwrap_or(1).to_string();
        others.extend(script("Rscript", &[r, path.clone(), r_reps], None, ""));
    }
    if !flag("--skip-numpy") {
        let py = scripts().join("survival_numpy.py").display().to_string();
        others.extend(script("python3", &[py, path.clone(), "--reps".into(), reps.to_string()], None, ""));
    }
    let mut lifelines = None;
    if !flag("--skip-lifelines") {
        let py = scripts().join("survival_lifelines.py").display().to_string();
        let wanted = arg("--lifelines-rows").unwrap_or(rows);
        let run = |n: u64, limit: Option<u64>, note: &str| {
            script("python3", &[py.clone(), path.clone(), "--rows".into(), n.to_string()], limit, note)
        };
        lifelines = if wanted < rows {
            run(wanted, None, &format!("first {wanted} rows only (--lifelines-rows)"))
        } else {
            run(rows, Some(timeout), "").or_else(|| {
                eprintln!("lifelines took more than {timeout} s on {rows} rows: running it on the first 1,000,000");
                run(1_000_000, None, &format!("FIRST 1,000,000 ROWS ONLY: over {timeout} s on {rows}"))
            })
        };
    }

    println!("\nsurvival benchmark: {rows} procedures, {BRANDS} brands, {events} revisions, {}", csv.display());
    println!("KM by brand (log-scale 95% limits) + log-rank across brands; compute excludes the load.\n");
    println!(
        "{:<26} {:>10} {:>9} {:>9} {:>11} {:>10}  {:<24} note",
        "tool", "rows", "load s", "KM s", "log-rank s", "compute s", "chi-square"
    );
    let show = |r: &Run| {
        println!(
            "{:<26} {:>10} {:>9.3} {:>9.3} {:>11.3} {:>10.3}  {:<24} {} ({})",
            r.tool,
            r.rows,
            r.load,
            r.km,
            r.log_rank,
            r.compute,
            format!("{:.17e}", r.chisq),
            r.note,
            r.version
        );
    };
    show(&ours);
    others.iter().for_each(show);
    let lifelines_subset = lifelines.as_ref().filter(|l| l.rows < rows).map(|l| {
        let subset = columns.head(l.rows as usize);
        let mut r = tessera(&subset, reps, f64::NAN);
        r.tool = "Tessera (lifelines' rows)".into();
        r
    });
    lifelines.iter().for_each(show);
    lifelines_subset.iter().for_each(show);

    println!();
    for other in others.iter().chain(&lifelines) {
        let ours = match &lifelines_subset {
            Some(sub) if other.rows == sub.rows => sub,
            _ => &ours,
        };
        let ratio = other.compute / ours.compute;
        let target = match other.tool.as_str() {
            t if t.starts_with("R ") => {
                format!("target ≥ 50× faster: {}", if ratio >= 50.0 { "met" } else { "NOT MET" })
            }
            t if t.starts_with("numpy") => {
                format!("target within 2× of the floor: {}", if ratio >= 0.5 { "met" } else { "NOT MET" })
            }
            _ => String::new(),
        };
        println!(
            "{:<26} compute {:>8.3} s vs Tessera {:.3} s on {} rows: Tessera {:.1}× faster. {target}",
            other.tool, other.compute, ours.compute, other.rows, ratio
        );
        let (wall, our_wall) = (other.load + other.compute, ours.load + ours.compute);
        println!(
            "{:<26} wall (load + compute) {:>8.3} s vs Tessera {:.3} s: Tessera {:.1}× faster",
            "",
            wall,
            our_wall,
            wall / our_wall
        );
        let chi = relative(ours.chisq, other.chisq);
        let surv = relative(ours.surv_sum, other.surv_sum);
        println!(
            "{:<26} chi-square relative difference {chi:.2e}{}; KM steps {} vs {}; Σ surv relative difference {surv:.2e}",
            "",
            if other.tool.starts_with("R ") {
                if chi <= 1e-9 { " (≤ 1e-9: agrees)" } else { " (> 1e-9: DISAGREES)" }
            } else {
                ""
            },
            ours.steps,
            other.steps
        );
        if other.tool.starts_with("R ") {
            assert!(chi <= 1e-9, "Tessera's chi-square {} differs from R's {}", ours.chisq, other.chisq);
        }
        assert_eq!(ours.steps, other.steps, "{}: number of Kaplan–Meier steps", other.tool);
    }
}
