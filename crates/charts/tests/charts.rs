//! Black-box tests of the charts: every SVG is well-formed XML with the elements a reader needs,
//! text from data is escaped, nothing non-finite leaks out, and the CSVs read back as written.
//!
//! With `TESSERA_CHARTS_DIR` set, the example charts are also written there as `.svg` files so
//! they can be rendered and looked at.

use tessera_charts::{
    AtRiskCell, CusumChart, FunnelChart, FunnelPoint, KmChart, KmGroup, KmPoint, LimitCurve, cusum_chart, cusum_csv,
    funnel_chart, funnel_csv, km_at_risk_csv, km_chart, km_csv,
};

const SVG: &str = "http://www.w3.org/2000/svg";

/// A deterministic curve that rises like a revision curve, with limits that widen over time.
fn curve(rate: f64, years: f64, steps: usize, missing_limits_from: Option<usize>) -> Vec<KmPoint> {
    (1..=steps)
        .map(|i| {
            let time = years * i as f64 / steps as f64;
            let value = 100.0 * (1.0 - (-rate * time).exp());
            let half = 0.15 * value + 0.05 * time;
            let limits = missing_limits_from.is_none_or(|from| i < from);
            KmPoint {
                time,
                value,
                lower: limits.then_some((value - half).max(0.0)),
                upper: limits.then_some(value + half),
            }
        })
        .collect()
}

fn km_example() -> KmChart {
    use AtRiskCell::{Count, Suppressed};
    KmChart {
        title: "Cumulative percent revision of primary hip replacements by fixation".into(),
        x_label: "Years since primary operation".into(),
        y_label: "Cumulative percent revision (%)".into(),
        groups: vec![
            KmGroup {
                label: "Cemented".into(),
                steps: curve(0.004, 15.0, 60, None),
                at_risk: vec![Count(41_230), Count(38_112), Count(30_455), Count(22_871), Count(9_804), Count(1_203)],
            },
            KmGroup {
                label: "Uncemented".into(),
                steps: curve(0.006, 14.0, 55, Some(50)),
                at_risk: vec![Count(52_901), Count(49_870), Count(40_002), Count(28_640), Count(10_117), Count(3)],
            },
            KmGroup {
                label: "Hybrid <script>alert('x')</script> with a very long name that needs cutting".into(),
                steps: curve(0.009, 11.0, 40, None),
                at_risk: vec![Count(812), Count(700), Count(488), Count(251), Count(37), Suppressed],
            },
        ],
        at_risk_times: vec![0.0, 1.0, 3.0, 5.0, 10.0, 15.0],
    }
}

/// An exact Poisson-ish funnel: limits 1 ± z·sqrt(1/E), which is what the shape needs.
fn limits(z: f64) -> Vec<(f64, f64, f64)> {
    (1..=200)
        .map(|i| {
            let e = 0.5 + i as f64 * 0.3;
            let half = z / e.sqrt();
            (e, (1.0 - half).max(0.0), 1.0 + half)
        })
        .collect()
}

fn funnel_example() -> FunnelChart {
    let mut points: Vec<FunnelPoint> = (0..120)
        .map(|i| {
            let expected = 1.0 + (i as f64 * 7.3) % 55.0;
            let wobble = ((i as f64 * 2.39).sin()) * 1.3 / expected.sqrt();
            FunnelPoint { label: format!("Trust {i:03}"), expected, ratio: (1.0 + wobble).max(0.0), outlier: false }
        })
        .collect();
    points.push(FunnelPoint { label: "=HYPERLINK(\"x\")".into(), expected: 12.0, ratio: 2.4, outlier: true });
    points.push(FunnelPoint {
        label: "St Elsewhere <script> University Hospitals NHS Foundation Trust".into(),
        expected: 53.0,
        ratio: 1.62,
        outlier: true,
    });
    FunnelChart {
        title: "Revision within 5 years: observed ÷ expected by hospital".into(),
        x_label: "Expected revisions".into(),
        y_label: "Observed ÷ expected".into(),
        points,
        limits: vec![
            LimitCurve { label: "95%".into(), dashed: true, points: limits(1.96) },
            LimitCurve { label: "99.8%".into(), dashed: false, points: limits(3.09) },
        ],
    }
}

fn cusum_example() -> CusumChart {
    let mut w: f64 = 0.0;
    let mut values = Vec::new();
    let mut signals = Vec::new();
    for t in 0..300 {
        let failure = (t * 37 % 100) < if t > 150 { 9 } else { 3 };
        let p: f64 = 0.04;
        w = (w + if failure { 2f64.ln() } else { 0.0 } - (1.0 - p + 2.0 * p).ln()).max(0.0);
        values.push(w);
        if w > 2.5 {
            signals.push(t);
            w = 0.0;
        }
    }
    CusumChart {
        title: "Risk-adjusted CUSUM for Trust 042".into(),
        x_label: "Operation number".into(),
        y_label: "CUSUM W".into(),
        values,
        threshold: 2.5,
        signals,
    }
}

/// Parses `svg`, checks what every chart must have, writes it out when asked, and returns it.
fn check_svg(name: &str, svg: &str) -> String {
    if let Some(dir) = std::env::var_os("TESSERA_CHARTS_DIR") {
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.svg")), svg).unwrap();
    }
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{name} is not well-formed XML: {e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.tag_name().namespace(), Some(SVG));
    assert_eq!(root.attribute("role"), Some("img"));
    assert!(root.attribute("viewBox").is_some_and(|v| v.starts_with("0 0 760 ")));
    assert_eq!(root.attribute("width"), Some("760"));
    assert!(root.attribute("height").is_some());
    assert_eq!(root.attribute("font-family"), Some("Arial, sans-serif"));
    let children: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(children[0].tag_name().name(), "title", "{name}: <title> comes first");
    assert_eq!(children[1].tag_name().name(), "desc", "{name}: <desc> comes second");
    let ids: Vec<&str> = root.attribute("aria-labelledby").unwrap().split(' ').collect();
    assert_eq!(ids, [children[0].attribute("id").unwrap(), children[1].attribute("id").unwrap()]);
    assert!(!children[1].text().unwrap_or("").is_empty(), "{name}: <desc> summarises the data");

    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{name}: no non-finite number in the SVG");
    for node in doc.descendants().filter(|n| n.is_element()) {
        if let Some(size) = node.attribute("font-size") {
            assert!(size.parse::<f64>().unwrap() >= 12.0, "{name}: text of at least 12px, found {size}");
        }
        for attr in node.attributes() {
            assert!(!attr.value().contains("<script"), "{name}: unescaped markup in {}", attr.name());
        }
    }
    svg.to_owned()
}

fn elements<'a>(doc: &'a roxmltree::Document<'a>, tag: &str, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants().filter(|n| n.has_tag_name(tag) && n.attribute("class") == Some(class)).collect()
}

/// The visible text of a `<text>` element: without its `<title>` tooltip.
fn shown(node: roxmltree::Node<'_, '_>) -> String {
    node.children().filter(|d| d.is_text()).filter_map(|d| d.text()).collect()
}

fn texts(doc: &roxmltree::Document<'_>) -> Vec<String> {
    doc.descendants().filter(|n| n.has_tag_name("text")).map(shown).collect()
}

#[test]
fn a_km_chart_has_a_curve_and_band_per_group_and_the_at_risk_table() {
    let chart = km_example();
    let svg = check_svg("km", &km_chart(&chart));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(elements(&doc, "path", "curve").len(), 3);
    assert_eq!(elements(&doc, "path", "band").len(), 3);
    for curve in elements(&doc, "path", "curve") {
        assert!(curve.attribute("d").unwrap().starts_with("M170,"), "curves start at the origin");
    }
    // Solid, then dashed: lines differ by more than colour.
    let dashes: Vec<Option<&str>> =
        elements(&doc, "path", "curve").iter().map(|c| c.attribute("stroke-dasharray")).collect();
    assert_eq!(dashes[0], None);
    assert!(dashes[1].is_some() && dashes[2].is_some() && dashes[1] != dashes[2]);

    assert!(svg.contains(">&lt;5<"), "a suppressed count is shown as escaped <5");
    let all = texts(&doc);
    assert!(all.iter().any(|t| t == "<5"));
    assert!(all.iter().any(|t| t == "41230"));
    assert!(all.iter().any(|t| t == "Number at risk"));
    assert!(!svg.contains("<script>"), "a label's markup is escaped");
    assert!(svg.contains("&lt;script&gt;"));
    // The long label is cut in the legend and table but whole in a <title> child.
    let long = &chart.groups[2].label;
    assert!(all.iter().any(|t| t.starts_with("Hybrid <scri") && t.ends_with('…')));
    assert!(doc.descendants().any(|n| n.has_tag_name("title") && n.text() == Some(long.as_str())));
    let desc = doc.descendants().find(|n| n.has_tag_name("desc")).unwrap().text().unwrap();
    assert!(desc.contains("Cemented: ") && desc.contains("at 5 years"), "{desc}");
}

#[test]
fn km_bands_leave_gaps_where_limits_are_missing() {
    let mut chart = km_example();
    chart.groups.truncate(1);
    let steps = &mut chart.groups[0].steps;
    steps[10].lower = None;
    steps[20].upper = Some(f64::NAN);
    let svg = check_svg("km_gaps", &km_chart(&chart));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let band = elements(&doc, "path", "band")[0].attribute("d").unwrap();
    assert_eq!(band.matches('M').count(), 3, "three runs of steps with limits");
    assert_eq!(band.matches('Z').count(), 3);
}

#[test]
fn km_charts_survive_empty_single_zero_and_non_finite_inputs() {
    let empty = KmChart {
        title: "Nothing yet".into(),
        x_label: "Years".into(),
        y_label: "Cumulative percent revision (%)".into(),
        groups: vec![],
        at_risk_times: vec![],
    };
    let svg = check_svg("km_empty", &km_chart(&empty));
    assert!(svg.contains("No data to show"));

    let point = |time, value| KmPoint { time, value, lower: None, upper: None };
    let odd = KmChart {
        groups: vec![
            KmGroup { label: "Empty".into(), steps: vec![], at_risk: vec![] },
            KmGroup { label: "Single".into(), steps: vec![point(2.0, 1.5)], at_risk: vec![AtRiskCell::Count(9)] },
            KmGroup { label: "Zeros".into(), steps: vec![point(0.0, 0.0), point(1.0, 0.0)], at_risk: vec![] },
            KmGroup {
                label: "Broken".into(),
                steps: vec![
                    point(f64::NAN, 1.0),
                    point(1.0, f64::INFINITY),
                    KmPoint { time: 3.0, value: 2.0, lower: Some(f64::NEG_INFINITY), upper: Some(f64::NAN) },
                ],
                at_risk: vec![AtRiskCell::Suppressed, AtRiskCell::Count(3)],
            },
        ],
        at_risk_times: vec![0.0, f64::NAN, 5.0],
        ..empty.clone()
    };
    let svg = check_svg("km_odd", &km_chart(&odd));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(elements(&doc, "path", "curve").len(), 3, "the empty group has no curve");
    assert_eq!(elements(&doc, "path", "band").len(), 0);

    let zeros = KmChart { groups: vec![odd.groups[2].clone()], ..empty };
    check_svg("km_zeros", &km_chart(&zeros));
}

#[test]
fn a_funnel_plot_labels_its_outliers_and_draws_both_limits() {
    let chart = funnel_example();
    let svg = check_svg("funnel", &funnel_chart(&chart));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let labels: Vec<String> = elements(&doc, "text", "outlier-label").into_iter().map(shown).collect();
    assert_eq!(labels.len(), 2);
    assert!(labels.contains(&"=HYPERLINK(\"x\")".to_owned()));
    assert!(labels[1].starts_with("St Elsewhere <script>") && labels[1].ends_with('…'));
    assert!(!svg.contains("<script>"));
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("circle")).count(), 120 + 1, "units and the legend");
    let limits = doc.descendants().find(|n| n.attribute("class") == Some("limits")).unwrap();
    let paths: Vec<_> = limits.children().filter(|n| n.has_tag_name("path")).collect();
    assert_eq!(paths.len(), 5, "upper and lower for two levels, and the target");
    assert_eq!(paths.iter().filter(|p| p.attribute("stroke-dasharray").is_some()).count(), 2);
    let desc = doc.descendants().find(|n| n.has_tag_name("desc")).unwrap().text().unwrap();
    assert!(desc.contains("2 units are flagged as outliers") && desc.contains("=HYPERLINK"), "{desc}");
}

#[test]
fn funnel_plots_survive_empty_and_non_finite_inputs() {
    let mut chart = funnel_example();
    chart.points.clear();
    let svg = check_svg("funnel_empty", &funnel_chart(&chart));
    assert!(svg.contains("No data to show"));
    chart.limits.clear();
    check_svg("funnel_bare", &funnel_chart(&chart));

    let mut chart = funnel_example();
    chart.points.push(FunnelPoint { label: "nan".into(), expected: f64::NAN, ratio: 1.0, outlier: true });
    chart.points.push(FunnelPoint { label: "inf".into(), expected: 3.0, ratio: f64::INFINITY, outlier: false });
    chart.limits[0].points.push((f64::NAN, 0.0, 1.0));
    chart.limits[0].points.push((9.0, f64::NEG_INFINITY, f64::NAN));
    let svg = check_svg("funnel_nan", &funnel_chart(&chart));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(elements(&doc, "text", "outlier-label").len(), 2);

    let single = FunnelChart {
        points: vec![FunnelPoint { label: "Only".into(), expected: 0.0, ratio: 0.0, outlier: false }],
        limits: vec![],
        ..funnel_example()
    };
    check_svg("funnel_single", &funnel_chart(&single));
}

#[test]
fn a_cusum_chart_marks_its_signals_and_threshold() {
    let chart = cusum_example();
    assert!(!chart.signals.is_empty());
    let svg = check_svg("cusum", &cusum_chart(&chart));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(elements(&doc, "path", "cusum").len(), 1);
    let signals = doc.descendants().find(|n| n.attribute("class") == Some("signals")).unwrap();
    assert_eq!(signals.children().filter(|n| n.has_tag_name("polygon")).count(), chart.signals.len());
    assert!(texts(&doc).iter().any(|t| t == "h = 2.5"));
    let desc = doc.descendants().find(|n| n.has_tag_name("desc")).unwrap().text().unwrap();
    assert!(desc.contains("threshold h = 2.5") && desc.contains("Signal"), "{desc}");
}

#[test]
fn cusum_charts_survive_empty_and_non_finite_inputs() {
    let empty = CusumChart {
        title: "No operations".into(),
        x_label: "Operation number".into(),
        y_label: "CUSUM W".into(),
        values: vec![],
        threshold: f64::NAN,
        signals: vec![0, 7],
    };
    let svg = check_svg("cusum_empty", &cusum_chart(&empty));
    assert!(svg.contains("No data to show"));
    let odd = CusumChart {
        values: vec![0.0, f64::NAN, 0.0, f64::INFINITY, 0.0],
        threshold: 4.0,
        signals: vec![1, 2, 99],
        ..empty
    };
    let svg = check_svg("cusum_odd", &cusum_chart(&odd));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let line = elements(&doc, "path", "cusum")[0].attribute("d").unwrap();
    assert_eq!(line.matches('M').count(), 3, "gaps where values are not finite");
    let signals = doc.descendants().find(|n| n.attribute("class") == Some("signals")).unwrap();
    assert_eq!(signals.children().filter(|n| n.is_element()).count(), 1, "only the signal on a finite value");
}

fn read(csv_text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    (header, rows)
}

#[test]
fn km_csvs_read_back_as_written() {
    let mut chart = km_example();
    chart.groups[1].label = "-Uncemented, \"press-fit\"".into();
    chart.groups[0].steps[0].lower = None;
    let (header, rows) = read(&km_csv(&chart));
    assert_eq!(header, ["group", "time", "value", "lower", "upper"]);
    assert_eq!(rows.len(), 60 + 55 + 40);
    let first = &chart.groups[0].steps[0];
    assert_eq!(rows[0][0], "Cemented");
    assert_eq!(rows[0][1].parse::<f64>().unwrap(), first.time);
    assert_eq!(rows[0][2].parse::<f64>().unwrap(), first.value, "numbers round-trip exactly");
    assert_eq!(rows[0][3], "");
    assert_eq!(rows[60][0], "'-Uncemented, \"press-fit\"", "quoted, and neutralised against formulas");
    assert_eq!(rows[60 + 54][3], "", "a missing limit is an empty cell");
    assert_eq!(rows[60 + 55][0], chart.groups[2].label, "markup is kept verbatim in CSV");

    let (header, rows) = read(&km_at_risk_csv(&chart));
    assert_eq!(header, ["group", "time", "at_risk"]);
    assert_eq!(rows.len(), 18);
    assert_eq!(rows[0], ["Cemented", "0", "41230"]);
    assert_eq!(rows[17][1..], ["15".to_owned(), "<5".to_owned()]);
}

#[test]
fn funnel_and_cusum_csvs_read_back_as_written() {
    let mut chart = funnel_example();
    chart.points.push(FunnelPoint { label: "@evil".into(), expected: f64::NAN, ratio: 0.5, outlier: false });
    chart.points.push(FunnelPoint { label: "+1".into(), expected: 2.0, ratio: 0.5, outlier: false });
    let (header, rows) = read(&funnel_csv(&chart));
    assert_eq!(header, ["label", "expected", "ratio", "outlier"]);
    assert_eq!(rows.len(), chart.points.len());
    assert_eq!(rows[120], ["'=HYPERLINK(\"x\")", "12", "2.4", "true"]);
    assert_eq!(rows[122], ["'@evil", "", "0.5", "false"]);
    assert_eq!(rows[123][0], "'+1");
    for (row, point) in rows.iter().zip(&chart.points).take(120) {
        assert_eq!(row[1].parse::<f64>().unwrap(), point.expected);
        assert_eq!(row[2].parse::<f64>().unwrap(), point.ratio);
    }

    let cusum = cusum_example();
    let (header, rows) = read(&cusum_csv(&cusum));
    assert_eq!(header, ["observation", "w", "threshold", "signal"]);
    assert_eq!(rows.len(), cusum.values.len());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], (i + 1).to_string());
        assert_eq!(row[1].parse::<f64>().unwrap(), cusum.values[i]);
        assert_eq!(row[3] == "true", cusum.signals.contains(&i));
    }
    let all = [km_csv(&km_example()), funnel_csv(&chart), cusum_csv(&cusum)].concat();
    assert!(!all.contains("NaN") && !all.contains("inf"));
}
