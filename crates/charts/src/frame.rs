//! What every chart shares: the `<svg>` root with its accessible name, the plot area, axes with
//! grid lines, and a legend that wraps onto as many rows as it needs.

use crate::scale::Axis;
use crate::svg::{Xml, fit, num, text_width};

/// Width of every chart in pixels (the `viewBox` lets it scale).
pub(crate) const WIDTH: f64 = 760.0;
/// NHS.UK text colour.
pub(crate) const INK: &str = "#212b32";
/// NHS.UK secondary text colour, used for axes.
pub(crate) const AXIS: &str = "#4c6272";
/// Light grey for grid lines.
const GRID: &str = "#d8dde0";
/// The Okabe–Ito palette without yellow, which is too faint on white.
pub(crate) const PALETTE: [&str; 7] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
/// Dash patterns paired with the palette; six against seven colours gives 42 distinct styles.
pub(crate) const DASHES: [&str; 6] = ["", "9 4", "2 3", "12 4 3 4", "5 5", "14 3 3 3 3 3"];
/// Vermillion, the colour of outliers and signals.
pub(crate) const ALERT: &str = "#D55E00";
/// Okabe–Ito blue, the colour of ordinary points.
pub(crate) const BLUE: &str = "#0072B2";

/// Font sizes in pixels; nothing is smaller than 12.
pub(crate) const TITLE_PX: f64 = 18.0;
pub(crate) const LABEL_PX: f64 = 14.0;
pub(crate) const TICK_PX: f64 = 13.0;

/// Where the legend's first row sits, under the chart title.
pub(crate) const LEGEND_TOP: f64 = 54.0;
const LEGEND_ROW: f64 = 22.0;

/// Opens the `<svg>` root with `role="img"`, `<title>` and `<desc>` (named by `aria-labelledby`),
/// a white background and the visible title. Returns the id prefix for other ids (clip paths).
pub(crate) fn open(xml: &mut Xml, kind: &str, height: f64, title: &str, desc: &str) -> String {
    let prefix = format!("tessera-{kind}-{:08x}", fnv1a(&[kind, title, desc]));
    let title_id = format!("{prefix}-title");
    let desc_id = format!("{prefix}-desc");
    let labelledby = format!("{title_id} {desc_id}");
    let view_box = format!("0 0 {} {}", num(WIDTH), num(height));
    xml.start(
        "svg",
        &[
            ("xmlns", "http://www.w3.org/2000/svg"),
            ("viewBox", &view_box),
            ("width", &num(WIDTH)),
            ("height", &num(height)),
            ("role", "img"),
            ("aria-labelledby", &labelledby),
            ("font-family", "Arial, sans-serif"),
            ("font-size", &num(TICK_PX)),
            ("fill", INK),
            ("class", &format!("tessera-chart tessera-chart-{kind}")),
        ],
    );
    xml.leaf("title", &[("id", &title_id)], title);
    xml.leaf("desc", &[("id", &desc_id)], desc);
    xml.empty("rect", &[("width", &num(WIDTH)), ("height", &num(height)), ("fill", "#ffffff")]);
    xml.label(
        &[("x", "20"), ("y", "32"), ("font-size", &num(TITLE_PX)), ("font-weight", "bold")],
        title,
        WIDTH - 40.0,
        TITLE_PX,
    );
    prefix
}

/// A stable 32-bit hash so ids are the same for the same chart and differ between charts.
fn fnv1a(parts: &[&str]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// The plot area in pixels and the axes mapped onto it.
pub(crate) struct Plot {
    pub(crate) left: f64,
    pub(crate) top: f64,
    pub(crate) right: f64,
    pub(crate) bottom: f64,
    pub(crate) x: Axis,
    pub(crate) y: Axis,
}

impl Plot {
    /// The pixel column of data value `v`. Values far outside the axis are held a few plot widths
    /// away, beyond the clip path, so coordinates stay small numbers.
    pub(crate) fn px(&self, v: f64) -> f64 {
        let w = self.right - self.left;
        (self.left + v / self.x.max * w).clamp(self.left - 10.0 * w, self.right + 10.0 * w)
    }

    /// The pixel row of data value `v` (up is larger), held near the plot like [`Plot::px`].
    pub(crate) fn py(&self, v: f64) -> f64 {
        let h = self.bottom - self.top;
        (self.bottom - v / self.y.max * h).clamp(self.top - 10.0 * h, self.bottom + 10.0 * h)
    }

    /// Writes a clip path for the plot area (id `{prefix}-clip`) and returns `url(#…)` for it.
    pub(crate) fn clip(&self, xml: &mut Xml, prefix: &str) -> String {
        let id = format!("{prefix}-clip");
        xml.start("defs", &[]);
        xml.start("clipPath", &[("id", &id)]);
        xml.empty(
            "rect",
            &[
                ("x", &num(self.left)),
                ("y", &num(self.top - 1.0)),
                ("width", &num(self.right - self.left + 1.0)),
                ("height", &num(self.bottom - self.top + 2.0)),
            ],
        );
        xml.end();
        xml.end();
        format!("url(#{id})")
    }

    /// Grid lines, tick labels, axis titles and the two axis lines.
    pub(crate) fn axes(&self, xml: &mut Xml, x_label: &str, y_label: &str) {
        xml.start("g", &[("class", "grid"), ("stroke", GRID), ("stroke-width", "1")]);
        for tick in self.y.ticks().skip(1) {
            let y = num(self.py(tick));
            xml.empty("line", &[("x1", &num(self.left)), ("x2", &num(self.right)), ("y1", &y), ("y2", &y)]);
        }
        xml.end();

        xml.start("g", &[("class", "y-axis"), ("font-size", &num(TICK_PX)), ("text-anchor", "end")]);
        for tick in self.y.ticks() {
            let y = num(self.py(tick) + TICK_PX * 0.35);
            xml.leaf("text", &[("x", &num(self.left - 8.0)), ("y", &y)], &self.y.format(tick));
        }
        xml.end();

        xml.start("g", &[("class", "x-axis"), ("font-size", &num(TICK_PX)), ("text-anchor", "middle")]);
        for tick in self.x.ticks() {
            let x = num(self.px(tick));
            xml.empty(
                "line",
                &[("x1", &x), ("x2", &x), ("y1", &num(self.bottom)), ("y2", &num(self.bottom + 5.0)), ("stroke", AXIS)],
            );
            xml.leaf("text", &[("x", &x), ("y", &num(self.bottom + 20.0))], &self.x.format(tick));
        }
        xml.end();

        let axis_line = [("stroke", AXIS), ("stroke-width", "1.5"), ("fill", "none")];
        let corner = format!("M{},{}V{}H{}", num(self.left), num(self.top), num(self.bottom), num(self.right));
        let mut attrs = vec![("d", corner.as_str())];
        attrs.extend_from_slice(&axis_line);
        xml.empty("path", &attrs);

        let centre_x = (self.left + self.right) / 2.0;
        xml.label(
            &[
                ("x", &num(centre_x)),
                ("y", &num(self.bottom + 44.0)),
                ("text-anchor", "middle"),
                ("font-size", &num(LABEL_PX)),
                ("font-weight", "bold"),
            ],
            x_label,
            self.right - self.left,
            LABEL_PX,
        );
        let centre_y = (self.top + self.bottom) / 2.0;
        let turn = format!("translate({},{}) rotate(-90)", num(self.left - 50.0), num(centre_y));
        xml.label(
            &[("transform", &turn), ("text-anchor", "middle"), ("font-size", &num(LABEL_PX)), ("font-weight", "bold")],
            y_label,
            self.bottom - self.top,
            LABEL_PX,
        );
    }

    /// A centred "No data to show" note for charts whose inputs held nothing drawable.
    pub(crate) fn no_data(&self, xml: &mut Xml) {
        xml.leaf(
            "text",
            &[
                ("x", &num((self.left + self.right) / 2.0)),
                ("y", &num((self.top + self.bottom) / 2.0)),
                ("text-anchor", "middle"),
                ("font-size", &num(LABEL_PX)),
                ("fill", AXIS),
            ],
            "No data to show",
        );
    }
}

/// How a legend entry is drawn.
pub(crate) enum Swatch<'a> {
    /// A line sample, optionally over a translucent band of the same colour.
    Line { colour: &'a str, dash: &'a str, width: f64, band: bool },
    /// A translucent rectangle (a confidence band).
    Band { colour: &'a str },
    /// An open circle.
    Circle { colour: &'a str },
    /// A filled diamond.
    Diamond { colour: &'a str },
    /// A filled triangle.
    Triangle { colour: &'a str },
}

/// One legend entry.
pub(crate) struct LegendItem<'a> {
    pub(crate) label: &'a str,
    pub(crate) swatch: Swatch<'a>,
}

const SWATCH_W: f64 = 30.0;
/// The widest a legend label may be before it is cut.
const LEGEND_LABEL_PX: f64 = 230.0;

/// The legend laid out from `left` to `right` in rows: each entry's x and row number.
pub(crate) struct Legend {
    places: Vec<(f64, usize)>,
    /// How many rows it takes (0 when there are no entries).
    pub(crate) rows: usize,
}

impl Legend {
    /// Places `items` left to right, starting a new row when the next would pass `right`.
    pub(crate) fn layout(items: &[LegendItem<'_>], left: f64, right: f64) -> Legend {
        let mut places = Vec::with_capacity(items.len());
        let (mut x, mut row) = (left, 0);
        for item in items {
            let shown = fit(item.label, LEGEND_LABEL_PX, TICK_PX).unwrap_or_else(|| item.label.to_owned());
            let width = SWATCH_W + 6.0 + text_width(&shown, TICK_PX);
            if x > left && x + width > right {
                x = left;
                row += 1;
            }
            places.push((x, row));
            x += width + 18.0;
        }
        let rows = if items.is_empty() { 0 } else { row + 1 };
        Legend { places, rows }
    }

    /// The vertical space the legend takes below [`LEGEND_TOP`].
    pub(crate) fn height(&self) -> f64 {
        self.rows as f64 * LEGEND_ROW
    }

    /// Draws `items` (the same as given to [`Legend::layout`]) with the first row at `LEGEND_TOP`.
    pub(crate) fn draw(&self, xml: &mut Xml, items: &[LegendItem<'_>]) {
        xml.start("g", &[("class", "legend"), ("font-size", &num(TICK_PX))]);
        for (item, &(x, row)) in items.iter().zip(&self.places) {
            let mid = LEGEND_TOP + row as f64 * LEGEND_ROW + 8.0;
            swatch(xml, &item.swatch, x, mid);
            xml.label(
                &[("x", &num(x + SWATCH_W + 6.0)), ("y", &num(mid + TICK_PX * 0.35))],
                item.label,
                LEGEND_LABEL_PX,
                TICK_PX,
            );
        }
        xml.end();
    }
}

/// Draws a swatch `SWATCH_W` wide starting at `x`, centred on row `mid`.
pub(crate) fn swatch(xml: &mut Xml, swatch: &Swatch<'_>, x: f64, mid: f64) {
    let centre = x + SWATCH_W / 2.0;
    match *swatch {
        Swatch::Line { colour, dash, width, band } => {
            if band {
                band_rect(xml, colour, x, mid);
            }
            let d = format!("M{},{}H{}", num(x), num(mid), num(x + SWATCH_W));
            line_path(xml, &d, colour, dash, width);
        }
        Swatch::Band { colour } => band_rect(xml, colour, x, mid),
        Swatch::Circle { colour } => circle(xml, centre, mid, colour, None),
        Swatch::Diamond { colour } => diamond(xml, centre, mid, colour, None),
        Swatch::Triangle { colour } => triangle(xml, centre, mid, colour, None),
    }
}

fn band_rect(xml: &mut Xml, colour: &str, x: f64, mid: f64) {
    xml.empty(
        "rect",
        &[
            ("x", &num(x)),
            ("y", &num(mid - 7.0)),
            ("width", &num(SWATCH_W)),
            ("height", "14"),
            ("fill", colour),
            ("fill-opacity", BAND_OPACITY),
        ],
    );
}

/// Opacity of confidence bands: light enough that overlapping bands and lines stay visible.
pub(crate) const BAND_OPACITY: &str = "0.16";

/// A stroked, unfilled path.
pub(crate) fn line_path(xml: &mut Xml, d: &str, colour: &str, dash: &str, width: f64) {
    let width = num(width);
    let mut attrs = vec![("d", d), ("fill", "none"), ("stroke", colour), ("stroke-width", width.as_str())];
    if !dash.is_empty() {
        attrs.push(("stroke-dasharray", dash));
    }
    attrs.push(("stroke-linejoin", "round"));
    xml.empty("path", &attrs);
}

/// Writes a shape element; with a tooltip `tip`, as a `<title>` child that hovering shows.
fn shape(xml: &mut Xml, name: &'static str, attrs: &[(&'static str, &str)], tip: Option<&str>) {
    match tip {
        Some(tip) => {
            xml.start(name, attrs);
            xml.leaf("title", &[], tip);
            xml.end();
        }
        None => xml.empty(name, attrs),
    }
}

/// An open circle of radius 4.
pub(crate) fn circle(xml: &mut Xml, x: f64, y: f64, colour: &str, tip: Option<&str>) {
    shape(
        xml,
        "circle",
        &[
            ("cx", &num(x)),
            ("cy", &num(y)),
            ("r", "4"),
            ("fill", "#ffffff"),
            ("stroke", colour),
            ("stroke-width", "1.5"),
        ],
        tip,
    );
}

/// The points of a diamond centred on `(x, y)`.
pub(crate) fn diamond_points(x: f64, y: f64) -> String {
    let r = 6.0;
    format!("{},{} {},{} {},{} {},{}", num(x), num(y - r), num(x + r), num(y), num(x), num(y + r), num(x - r), num(y))
}

/// A filled diamond, the shape of outliers.
pub(crate) fn diamond(xml: &mut Xml, x: f64, y: f64, colour: &str, tip: Option<&str>) {
    let points = diamond_points(x, y);
    shape(xml, "polygon", &[("points", &points), ("fill", colour), ("stroke", INK), ("stroke-width", "1")], tip);
}

/// The points of an upward triangle centred on `(x, y)`.
pub(crate) fn triangle_points(x: f64, y: f64) -> String {
    let r = 6.0;
    format!("{},{} {},{} {},{}", num(x), num(y - r), num(x + r), num(y + r * 0.8), num(x - r), num(y + r * 0.8))
}

/// A filled triangle, the shape of CUSUM signals.
pub(crate) fn triangle(xml: &mut Xml, x: f64, y: f64, colour: &str, tip: Option<&str>) {
    let points = triangle_points(x, y);
    shape(xml, "polygon", &[("points", &points), ("fill", colour), ("stroke", INK), ("stroke-width", "1")], tip);
}

/// A number for the `<desc>` summary: up to `decimals` decimals, trailing zeros dropped.
pub(crate) fn say(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}
