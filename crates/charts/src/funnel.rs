//! Funnel plot: observed ÷ expected against expected, with a target line at 1, control limits,
//! and labelled outliers.

use crate::frame::{self, ALERT, AXIS, BLUE, INK, LEGEND_TOP, Legend, LegendItem, Plot, Swatch, TICK_PX, WIDTH, say};
use crate::scale::Axis;
use crate::svg::{Xml, num};

/// A funnel plot of units (hospitals, surgeons) against control limits.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelChart {
    /// The visible title, also the SVG's accessible name.
    pub title: String,
    /// The x axis title, e.g. "Expected revisions".
    pub x_label: String,
    /// The y axis title, e.g. "Observed ÷ expected".
    pub y_label: String,
    /// The units.
    pub points: Vec<FunnelPoint>,
    /// Control limits, e.g. 95% (dashed) and 99.8% (solid).
    pub limits: Vec<LimitCurve>,
}

/// One unit on a funnel plot.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelPoint {
    /// The unit's name; shown next to the point when it is an outlier.
    pub label: String,
    /// The expected count E (x).
    pub expected: f64,
    /// Observed ÷ expected (y).
    pub ratio: f64,
    /// Whether the caller judged the unit an outlier; drawn as a labelled vermillion diamond.
    pub outlier: bool,
}

/// A pair of control limits (upper and lower) as points along the expected count.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitCurve {
    /// The level, e.g. "99.8%"; the legend says "{label} limits".
    pub label: String,
    /// Whether to draw the lines dashed (95% by convention) or solid (99.8%).
    pub dashed: bool,
    /// `(expected, lower, upper)` triples; sorted by expected before drawing.
    pub points: Vec<(f64, f64, f64)>,
}

const LEFT: f64 = 90.0;
const RIGHT: f64 = WIDTH - 36.0;
const BOTTOM: f64 = 410.0;
const HEIGHT: f64 = 480.0;
/// The widest an outlier's label may be before it is cut.
const OUTLIER_LABEL_PX: f64 = 200.0;

/// Renders `chart` as an SVG document.
pub fn funnel_chart(chart: &FunnelChart) -> String {
    let points: Vec<&FunnelPoint> = chart
        .points
        .iter()
        .filter(|p| p.expected.is_finite() && p.expected >= 0.0 && p.ratio.is_finite() && p.ratio >= 0.0)
        .collect();
    let limit_e_max =
        chart.limits.iter().flat_map(|c| &c.points).map(|p| p.0).filter(|e| e.is_finite()).fold(0.0, f64::max);
    let x_max = if points.is_empty() { limit_e_max } else { points.iter().map(|p| p.expected).fold(0.0, f64::max) };
    // At least 0–2, so the target line at 1 is never the top edge.
    let y_max = points.iter().map(|p| p.ratio).fold(2.0, f64::max);

    let limit_dash = |c: &LimitCurve| if c.dashed { "7 4" } else { "" };
    let limit_labels: Vec<String> = chart.limits.iter().map(|c| format!("{} limits", c.label)).collect();
    let mut items = vec![
        LegendItem { label: "Unit", swatch: Swatch::Circle { colour: BLUE } },
        LegendItem { label: "Outlier", swatch: Swatch::Diamond { colour: ALERT } },
        LegendItem {
            label: "Target (ratio 1)",
            swatch: Swatch::Line { colour: INK, dash: "", width: 2.0, band: false },
        },
    ];
    for (curve, label) in chart.limits.iter().zip(&limit_labels) {
        items.push(LegendItem {
            label,
            swatch: Swatch::Line { colour: AXIS, dash: limit_dash(curve), width: 1.5, band: false },
        });
    }
    let legend = Legend::layout(&items, LEFT, RIGHT);
    let plot = Plot {
        left: LEFT,
        top: LEGEND_TOP + legend.height() + 16.0,
        right: RIGHT,
        bottom: BOTTOM,
        x: Axis::nice(x_max, 6, 10.0),
        y: Axis::nice(y_max, 5, 2.0),
    };

    let mut xml = Xml::new();
    let prefix = frame::open(&mut xml, "funnel", HEIGHT, &chart.title, &describe(chart, &points));
    let clip = plot.clip(&mut xml, &prefix);
    plot.axes(&mut xml, &chart.x_label, &chart.y_label);

    xml.start("g", &[("class", "limits"), ("clip-path", &clip)]);
    for curve in &chart.limits {
        let mut sorted: Vec<(f64, f64, f64)> = curve.points.iter().copied().filter(|p| p.0.is_finite()).collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        for d in
            [polyline(&plot, sorted.iter().map(|p| (p.0, p.2))), polyline(&plot, sorted.iter().map(|p| (p.0, p.1)))]
        {
            if !d.is_empty() {
                frame::line_path(&mut xml, &d, AXIS, limit_dash(curve), 1.5);
            }
        }
    }
    let target = format!("M{},{}H{}", num(plot.left), num(plot.py(1.0)), num(plot.right));
    frame::line_path(&mut xml, &target, INK, "", 2.0);
    xml.end();

    xml.start("g", &[("class", "points")]);
    for p in points.iter().filter(|p| !p.outlier) {
        frame::circle(&mut xml, plot.px(p.expected), plot.py(p.ratio), BLUE, Some(&tip(p)));
    }
    xml.end();
    xml.start("g", &[("class", "outliers")]);
    for p in points.iter().filter(|p| p.outlier) {
        let (x, y) = (plot.px(p.expected), plot.py(p.ratio));
        frame::diamond(&mut xml, x, y, ALERT, Some(&tip(p)));
        // Labels near the right edge go to the left of their point so they stay inside the chart.
        let (lx, anchor) = if x > plot.right - 180.0 { (x - 9.0, "end") } else { (x + 9.0, "start") };
        xml.label(
            &[
                ("class", "outlier-label"),
                ("x", &num(lx)),
                ("y", &num(y - 6.0)),
                ("text-anchor", anchor),
                ("font-weight", "bold"),
                ("stroke", "#ffffff"),
                ("stroke-width", "3"),
                ("paint-order", "stroke"),
            ],
            &p.label,
            OUTLIER_LABEL_PX,
            TICK_PX,
        );
    }
    xml.end();
    if points.is_empty() {
        plot.no_data(&mut xml);
    }
    legend.draw(&mut xml, &items);
    xml.finish()
}

/// A path through the finite points, starting a new sub-path after each gap.
pub(crate) fn polyline(plot: &Plot, points: impl Iterator<Item = (f64, f64)>) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (x, y) in points {
        if !(x.is_finite() && y.is_finite()) {
            pen_down = false;
            continue;
        }
        let at = format!("{},{}", num(plot.px(x)), num(plot.py(y)));
        if pen_down {
            d.push_str(&format!("L{at}"));
        } else {
            // A zero-length segment, so a point with gaps on both sides still shows as a dot
            // where the line has round caps.
            d.push_str(&format!("M{at}L{at}"));
        }
        pen_down = true;
    }
    d
}

fn tip(p: &FunnelPoint) -> String {
    format!("{}: expected {}, ratio {}", p.label, say(p.expected, 2), say(p.ratio, 2))
}

/// The `<desc>`: how many units, the limits, and every outlier with its numbers.
fn describe(chart: &FunnelChart, points: &[&FunnelPoint]) -> String {
    if points.is_empty() {
        return format!("{}: funnel plot with no data to show.", chart.title);
    }
    let levels: Vec<&str> = chart.limits.iter().map(|c| c.label.as_str()).collect();
    let mut out = format!(
        "Funnel plot of {} units: {} against {}, with a target line at 1",
        points.len(),
        chart.y_label,
        chart.x_label
    );
    if !levels.is_empty() {
        out.push_str(&format!(" and {} control limits", levels.join(" and ")));
    }
    out.push_str(". ");
    let outliers: Vec<String> = points.iter().filter(|p| p.outlier).map(|p| tip(p)).collect();
    match outliers.len() {
        0 => out.push_str("No unit is flagged as an outlier."),
        1 => out.push_str(&format!("1 unit is flagged as an outlier: {}.", outliers[0])),
        n => out.push_str(&format!("{n} units are flagged as outliers: {}.", outliers.join("; "))),
    }
    out
}
