//! CUSUM chart: the statistic Wₜ over observations, the signalling threshold h, and the signals.

use crate::frame::{self, ALERT, BLUE, LEGEND_TOP, Legend, LegendItem, Plot, Swatch, TICK_PX, WIDTH, say};
use crate::funnel::polyline;
use crate::scale::Axis;
use crate::svg::{Xml, num};

/// A CUSUM chart of one unit's monitoring statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct CusumChart {
    /// The visible title, also the SVG's accessible name.
    pub title: String,
    /// The x axis title, e.g. "Operation number".
    pub x_label: String,
    /// The y axis title, e.g. "CUSUM W".
    pub y_label: String,
    /// Wₜ for observations 1, 2, …; non-finite values leave a gap.
    pub values: Vec<f64>,
    /// The signalling threshold h.
    pub threshold: f64,
    /// Zero-based indices into `values` where the chart signalled; out-of-range ones are ignored.
    pub signals: Vec<usize>,
}

const LEFT: f64 = 90.0;
const RIGHT: f64 = WIDTH - 36.0;
const BOTTOM: f64 = 410.0;
const HEIGHT: f64 = 480.0;

/// The signals that point at a finite value, in order and without repeats.
pub(crate) fn valid_signals(chart: &CusumChart) -> Vec<usize> {
    let mut signals: Vec<usize> =
        chart.signals.iter().copied().filter(|&i| chart.values.get(i).is_some_and(|v| v.is_finite())).collect();
    signals.sort_unstable();
    signals.dedup();
    signals
}

/// Renders `chart` as an SVG document.
pub fn cusum_chart(chart: &CusumChart) -> String {
    let signals = valid_signals(chart);
    let finite = chart.values.iter().filter(|v| v.is_finite());
    let threshold = chart.threshold.is_finite().then_some(chart.threshold);
    let y_max = finite.clone().copied().chain(threshold).fold(0.0, f64::max);
    let has_data = finite.count() > 0;

    let threshold_label = threshold.map(|h| format!("Threshold h = {}", say(h, 2)));
    let mut items = vec![LegendItem {
        label: &chart.y_label,
        swatch: Swatch::Line { colour: BLUE, dash: "", width: 2.0, band: false },
    }];
    if let Some(label) = &threshold_label {
        items.push(LegendItem { label, swatch: Swatch::Line { colour: ALERT, dash: "8 4", width: 2.0, band: false } });
    }
    items.push(LegendItem { label: "Signal", swatch: Swatch::Triangle { colour: ALERT } });
    let legend = Legend::layout(&items, LEFT, RIGHT);
    let plot = Plot {
        left: LEFT,
        top: LEGEND_TOP + legend.height() + 16.0,
        right: RIGHT,
        bottom: BOTTOM,
        x: Axis::nice_integer(chart.values.len() as f64, 6, 10.0),
        y: Axis::nice(y_max, 5, 5.0),
    };

    let mut xml = Xml::new();
    let prefix = frame::open(&mut xml, "cusum", HEIGHT, &chart.title, &describe(chart, &signals));
    let clip = plot.clip(&mut xml, &prefix);
    plot.axes(&mut xml, &chart.x_label, &chart.y_label);

    xml.start("g", &[("class", "series"), ("clip-path", &clip)]);
    if let Some(h) = threshold {
        let d = format!("M{},{}H{}", num(plot.left), num(plot.py(h)), num(plot.right));
        frame::line_path(&mut xml, &d, ALERT, "8 4", 2.0);
    }
    let d = polyline(&plot, chart.values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)));
    if !d.is_empty() {
        xml.start(
            "path",
            &[
                ("class", "cusum"),
                ("d", &d),
                ("fill", "none"),
                ("stroke", BLUE),
                ("stroke-width", "2"),
                ("stroke-linejoin", "round"),
                ("stroke-linecap", "round"),
            ],
        );
        xml.leaf("title", &[], &chart.y_label);
        xml.end();
    }
    xml.end();

    if let Some(h) = threshold {
        xml.leaf(
            "text",
            &[
                ("x", &num(plot.right - 4.0)),
                ("y", &num(plot.py(h) - 6.0)),
                ("text-anchor", "end"),
                ("font-size", &num(TICK_PX)),
                ("fill", ALERT),
                ("font-weight", "bold"),
            ],
            &format!("h = {}", say(h, 2)),
        );
    }
    xml.start("g", &[("class", "signals")]);
    for &i in &signals {
        let v = chart.values[i];
        let tip = format!("Signal at observation {}: W = {}", i + 1, say(v, 3));
        frame::triangle(&mut xml, plot.px((i + 1) as f64), plot.py(v), ALERT, Some(&tip));
    }
    xml.end();
    if !has_data {
        plot.no_data(&mut xml);
    }
    legend.draw(&mut xml, &items);
    xml.finish()
}

/// The `<desc>`: length, threshold, highest value and where the chart signalled.
fn describe(chart: &CusumChart, signals: &[usize]) -> String {
    let best = chart.values.iter().enumerate().filter(|(_, v)| v.is_finite()).fold(
        None,
        |best: Option<(usize, f64)>, (i, &v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        },
    );
    let Some((at, max)) = best else {
        return format!("{}: CUSUM chart with no data to show.", chart.title);
    };
    let mut out = format!("CUSUM chart of {} over {} observations", chart.y_label, chart.values.len());
    if chart.threshold.is_finite() {
        out.push_str(&format!(", threshold h = {}", say(chart.threshold, 2)));
    }
    out.push_str(&format!(". Highest value {} at observation {}. ", say(max, 3), at + 1));
    const LISTED: usize = 20;
    match signals.len() {
        0 => out.push_str("No signal."),
        n => {
            let listed: Vec<String> = signals.iter().take(LISTED).map(|i| (i + 1).to_string()).collect();
            let more = if n > LISTED { format!(" and {} more", n - LISTED) } else { String::new() };
            let noun = if n == 1 { "Signal at observation" } else { "Signals at observations" };
            out.push_str(&format!("{noun} {}{more}.", listed.join(", ")));
        }
    }
    out
}
