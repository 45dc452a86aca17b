//! Kaplan–Meier cumulative percent revision: step curves with confidence bands per group, and a
//! numbers-at-risk table under the plot.

use crate::frame::{
    self, AXIS, BAND_OPACITY, DASHES, LEGEND_TOP, Legend, LegendItem, PALETTE, Plot, Swatch, TICK_PX, WIDTH, say,
};
use crate::scale::Axis;
use crate::svg::{Xml, num, text_width};

/// A Kaplan–Meier chart: one curve per group, on the cumulative percent revision scale.
#[derive(Debug, Clone, PartialEq)]
pub struct KmChart {
    /// The visible title, also the SVG's accessible name.
    pub title: String,
    /// The x axis title, e.g. "Years since primary operation".
    pub x_label: String,
    /// The y axis title, e.g. "Cumulative percent revision (%)".
    pub y_label: String,
    /// The curves, drawn in palette order.
    pub groups: Vec<KmGroup>,
    /// The times (years) at which the at-risk table gives counts, e.g. 0, 1, 3, 5, 10, 15.
    pub at_risk_times: Vec<f64>,
}

/// One group's curve and its row of the at-risk table.
#[derive(Debug, Clone, PartialEq)]
pub struct KmGroup {
    /// The group's name in the legend and table.
    pub label: String,
    /// The steps of the curve in time order; the curve starts at (0, 0) before the first step.
    pub steps: Vec<KmPoint>,
    /// Numbers at risk, one per entry of [`KmChart::at_risk_times`].
    pub at_risk: Vec<AtRiskCell>,
}

/// One step of a curve: from `time` on, the estimate is `value` with limits `lower`–`upper`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KmPoint {
    /// Years since the start.
    pub time: f64,
    /// The plotted value in percent, 100·(1 − S(t)).
    pub value: f64,
    /// The lower confidence limit in percent, when there is one at this step.
    pub lower: Option<f64>,
    /// The upper confidence limit in percent, when there is one at this step.
    pub upper: Option<f64>,
}

/// A cell of the numbers-at-risk table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtRiskCell {
    /// A count that may be published.
    Count(u64),
    /// A small count hidden by disclosure control; shown as "<5".
    Suppressed,
}

impl AtRiskCell {
    /// The text shown in the table and the CSV.
    pub fn text(&self) -> String {
        match self {
            AtRiskCell::Count(n) => n.to_string(),
            AtRiskCell::Suppressed => "<5".to_owned(),
        }
    }
}

const LEFT: f64 = 170.0;
const RIGHT: f64 = WIDTH - 36.0;
const PLOT_HEIGHT: f64 = 270.0;
const TABLE_ROW: f64 = 21.0;

/// A step with a finite time and value, and limits only where both are finite.
#[derive(Clone, Copy)]
struct Step {
    time: f64,
    value: f64,
    limits: Option<(f64, f64)>,
}

/// The drawable steps of `group` in time order; steps before time 0 or with non-finite numbers
/// are dropped.
fn clean(group: &KmGroup) -> Vec<Step> {
    let mut steps: Vec<Step> = group
        .steps
        .iter()
        .filter(|p| p.time.is_finite() && p.time >= 0.0 && p.value.is_finite())
        .map(|p| Step {
            time: p.time,
            value: p.value,
            limits: match (p.lower, p.upper) {
                (Some(lo), Some(up)) if lo.is_finite() && up.is_finite() => Some((lo, up)),
                _ => None,
            },
        })
        .collect();
    steps.sort_by(|a, b| a.time.total_cmp(&b.time));
    steps
}

/// Renders `chart` as an SVG document.
pub fn km_chart(chart: &KmChart) -> String {
    let curves: Vec<Vec<Step>> = chart.groups.iter().map(clean).collect();
    let times: Vec<f64> = chart.at_risk_times.iter().copied().filter(|t| t.is_finite() && *t >= 0.0).collect();

    let x_max = curves.iter().flatten().map(|s| s.time).chain(times.iter().copied()).fold(0.0, f64::max);
    let y_max = curves.iter().flatten().flat_map(|s| [s.value, s.limits.map_or(0.0, |(_, up)| up)]).fold(0.0, f64::max);

    let styles: Vec<(&str, &str)> =
        (0..chart.groups.len()).map(|i| (PALETTE[i % PALETTE.len()], DASHES[i % DASHES.len()])).collect();
    let mut items: Vec<LegendItem<'_>> = chart
        .groups
        .iter()
        .zip(&styles)
        .zip(&curves)
        .map(|((g, &(colour, dash)), steps)| LegendItem {
            label: &g.label,
            swatch: Swatch::Line { colour, dash, width: 2.5, band: steps.iter().any(|s| s.limits.is_some()) },
        })
        .collect();
    if curves.iter().flatten().any(|s| s.limits.is_some()) {
        items.push(LegendItem { label: "Shaded: confidence interval", swatch: Swatch::Band { colour: AXIS } });
    }
    let legend = Legend::layout(&items, LEFT, RIGHT);

    let top = LEGEND_TOP + legend.height() + 16.0;
    let plot = Plot {
        left: LEFT,
        top,
        right: RIGHT,
        bottom: top + PLOT_HEIGHT,
        x: Axis::nice(x_max, 6, 1.0),
        y: Axis::nice(y_max, 5, 5.0).capped(100.0, y_max),
    };
    let table_top = plot.bottom + 82.0;
    let height = table_top + TABLE_ROW * (chart.groups.len() as f64 + 1.0) + 12.0;

    let mut xml = Xml::new();
    let prefix = frame::open(&mut xml, "km", height, &chart.title, &describe(chart, &curves, &times));
    let clip = plot.clip(&mut xml, &prefix);
    plot.axes(&mut xml, &chart.x_label, &chart.y_label);

    xml.start("g", &[("class", "bands"), ("clip-path", &clip)]);
    for ((group, steps), &(colour, _)) in chart.groups.iter().zip(&curves).zip(&styles) {
        let d = band_path(&plot, steps);
        if !d.is_empty() {
            xml.start("path", &[("class", "band"), ("d", &d), ("fill", colour), ("fill-opacity", BAND_OPACITY)]);
            xml.leaf("title", &[], &format!("{}: confidence interval", group.label));
            xml.end();
        }
    }
    xml.end();

    xml.start("g", &[("class", "curves"), ("clip-path", &clip)]);
    for ((group, steps), &(colour, dash)) in chart.groups.iter().zip(&curves).zip(&styles) {
        if steps.is_empty() {
            continue;
        }
        let mut attrs = vec![
            ("class", "curve"),
            ("d", ""),
            ("fill", "none"),
            ("stroke", colour),
            ("stroke-width", "2.5"),
            ("stroke-linejoin", "round"),
        ];
        let d = curve_path(&plot, steps);
        attrs[1].1 = &d;
        if !dash.is_empty() {
            attrs.push(("stroke-dasharray", dash));
        }
        xml.start("path", &attrs);
        xml.leaf("title", &[], &group.label);
        xml.end();
    }
    xml.end();
    if curves.iter().all(Vec::is_empty) {
        plot.no_data(&mut xml);
    }

    legend.draw(&mut xml, &items);
    at_risk_table(&mut xml, &plot, chart, &styles, table_top);
    xml.finish()
}

/// The step curve from (0, 0): horizontal to each step's time, then vertical to its value.
fn curve_path(plot: &Plot, steps: &[Step]) -> String {
    let mut d = format!("M{},{}", num(plot.px(0.0)), num(plot.py(0.0)));
    for s in steps {
        d.push_str(&format!("H{}V{}", num(plot.px(s.time)), num(plot.py(s.value))));
    }
    d
}

/// One closed sub-path per run of steps that have both limits. A step's band reaches to the next
/// step's time; the last step has no width, like the curve, which ends there too.
fn band_path(plot: &Plot, steps: &[Step]) -> String {
    let mut d = String::new();
    let mut k = 0;
    while k < steps.len() {
        if steps[k].limits.is_none() {
            k += 1;
            continue;
        }
        let start = k;
        while k < steps.len() && steps[k].limits.is_some() {
            k += 1;
        }
        let run = &steps[start..k];
        let end_time = steps.get(k).map_or(run[run.len() - 1].time, |s| s.time);
        let limits: Vec<(f64, f64)> = run.iter().filter_map(|s| s.limits).collect();
        d.push_str(&format!("M{},{}", num(plot.px(run[0].time)), num(plot.py(limits[0].1))));
        for (i, _) in run.iter().enumerate() {
            let next = run.get(i + 1).map_or(end_time, |s| s.time);
            d.push_str(&format!("H{}", num(plot.px(next))));
            if let Some(&(_, up)) = limits.get(i + 1) {
                d.push_str(&format!("V{}", num(plot.py(up))));
            }
        }
        for i in (0..run.len()).rev() {
            d.push_str(&format!("V{}H{}", num(plot.py(limits[i].0)), num(plot.px(run[i].time))));
        }
        d.push('Z');
    }
    d
}

/// "Number at risk" with the times as column heads, then one row per group under the x axis.
fn at_risk_table(xml: &mut Xml, plot: &Plot, chart: &KmChart, styles: &[(&str, &str)], top: f64) {
    // Columns keep their index into `at_risk_times`, so cells still pair with their own time
    // after a non-finite time is dropped.
    let columns: Vec<(usize, f64)> =
        chart.at_risk_times.iter().copied().enumerate().filter(|(_, t)| t.is_finite() && *t >= 0.0).collect();
    let widest = chart
        .groups
        .iter()
        .flat_map(|g| g.at_risk.iter().map(AtRiskCell::text))
        .chain(columns.iter().map(|&(_, t)| say(t, 2)))
        .map(|text| text_width(&text, TICK_PX))
        .fold(0.0, f64::max);
    let xs = column_positions(plot, &columns, widest + 10.0);

    xml.start("g", &[("class", "at-risk"), ("font-size", &num(TICK_PX))]);
    let head = num(top);
    xml.leaf("text", &[("x", "20"), ("y", &head), ("font-weight", "bold")], "Number at risk");
    for (&(_, t), &x) in columns.iter().zip(&xs) {
        xml.leaf(
            "text",
            &[("x", &num(x)), ("y", &head), ("text-anchor", "middle"), ("font-weight", "bold"), ("fill", AXIS)],
            &say(t, 2),
        );
    }
    for (row, (group, &(colour, dash))) in chart.groups.iter().zip(styles).enumerate() {
        let y = top + TABLE_ROW * (row as f64 + 1.0);
        frame::swatch(xml, &Swatch::Line { colour, dash, width: 2.5, band: false }, 20.0, y - TICK_PX * 0.35);
        xml.label(&[("x", "56"), ("y", &num(y))], &group.label, LEFT - 56.0 - 12.0, TICK_PX);
        for (&(index, _), &x) in columns.iter().zip(&xs) {
            if let Some(cell) = group.at_risk.get(index) {
                xml.leaf("text", &[("x", &num(x)), ("y", &num(y)), ("text-anchor", "middle")], &cell.text());
            }
        }
    }
    xml.end();
}

/// The x of each column: under its time on the axis, but pushed apart to at least `gap` so close
/// times (0 and 1 on a 15-year axis) do not run their counts together, and kept inside the chart.
fn column_positions(plot: &Plot, columns: &[(usize, f64)], gap: f64) -> Vec<f64> {
    let mut xs: Vec<f64> = columns.iter().map(|&(_, t)| plot.px(t)).collect();
    if !columns.windows(2).all(|w| w[0].1 < w[1].1) {
        // Unordered times cannot be spread sensibly; leave them under their ticks.
        return xs;
    }
    for i in 1..xs.len() {
        xs[i] = xs[i].max(xs[i - 1] + gap);
    }
    if let Some(last) = xs.last_mut() {
        *last = last.min(WIDTH - gap / 2.0);
    }
    for i in (0..xs.len().saturating_sub(1)).rev() {
        xs[i] = xs[i].min(xs[i + 1] - gap);
    }
    xs
}

/// The `<desc>`: what is plotted and each group's estimate at the at-risk times it reaches.
fn describe(chart: &KmChart, curves: &[Vec<Step>], times: &[f64]) -> String {
    if curves.iter().all(Vec::is_empty) {
        return format!("{}: Kaplan–Meier chart with no data to show.", chart.title);
    }
    let mut out = format!(
        "Kaplan–Meier chart of {} by years, one step curve per group with its confidence band where available. ",
        lower_first(&chart.y_label)
    );
    for (group, steps) in chart.groups.iter().zip(curves) {
        out.push_str(&group.label);
        out.push_str(": ");
        let Some(last) = steps.last() else {
            out.push_str("no data. ");
            continue;
        };
        let mut parts = Vec::new();
        for &t in times.iter().filter(|&&t| t > 0.0 && t <= last.time) {
            let at = steps.iter().take_while(|s| s.time <= t).last();
            let (value, limits) = at.map_or((0.0, None), |s| (s.value, s.limits));
            let ci = limits.map_or(String::new(), |(lo, up)| format!(" ({}–{})", say(lo, 2), say(up, 2)));
            let unit = if t == 1.0 { "year" } else { "years" };
            parts.push(format!("{}%{ci} at {} {unit}", say(value, 2), say(t, 2)));
        }
        if parts.is_empty() {
            parts.push(format!("{}% at {} years", say(last.value, 2), say(last.time, 2)));
        }
        out.push_str(&parts.join(", "));
        out.push_str(". ");
    }
    out.trim_end().to_owned()
}

/// `text` with its first letter in lower case, to run on inside a sentence.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "the estimate".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(time: f64, value: f64, limits: Option<(f64, f64)>) -> Step {
        Step { time, value, limits }
    }

    fn plot() -> Plot {
        // One pixel per unit makes the paths readable.
        Plot {
            left: 0.0,
            top: 0.0,
            right: 10.0,
            bottom: 100.0,
            x: Axis::nice(10.0, 5, 1.0),
            y: Axis::nice(100.0, 5, 1.0),
        }
    }

    #[test]
    fn a_curve_steps_from_the_origin() {
        let d = curve_path(&plot(), &[step(1.0, 10.0, None), step(3.0, 20.0, None)]);
        assert_eq!(d, "M0,100H1V90H3V80");
    }

    #[test]
    fn close_at_risk_columns_are_pushed_apart() {
        let p = plot();
        let xs = column_positions(&p, &[(0, 0.0), (1, 1.0), (2, 3.0), (3, 10.0)], 5.0);
        assert_eq!(xs, vec![0.0, 5.0, 10.0, 15.0]);
        let unordered = column_positions(&p, &[(0, 3.0), (1, 1.0)], 5.0);
        assert_eq!(unordered, vec![3.0, 1.0]);
    }

    #[test]
    fn a_band_skips_steps_without_limits() {
        let steps = [
            step(1.0, 10.0, Some((5.0, 15.0))),
            step(2.0, 20.0, Some((12.0, 28.0))),
            step(3.0, 25.0, None),
            step(4.0, 30.0, Some((20.0, 40.0))),
        ];
        let d = band_path(&plot(), &steps);
        assert_eq!(d, "M1,85H2V72H3V88H2V95H1ZM4,60H4V80H4Z");
    }
}
