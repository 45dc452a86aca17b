//! A tiny XML writer for SVG that escapes every attribute value and every text node.
//!
//! Charts are built element by element rather than from string templates, so there is exactly
//! one place where text reaches the output: [`escape_into`]. Element and attribute *names* are
//! `&'static str`, i.e. always written by this crate, never by data.

/// Elements after whose opening tag a newline keeps the output readable; text elements are
/// excluded because whitespace inside them would be rendered.
const BLOCKS: [&str; 4] = ["svg", "g", "defs", "clipPath"];

/// An SVG document being written; unclosed elements are closed by [`Xml::finish`].
pub(crate) struct Xml {
    buf: String,
    open: Vec<&'static str>,
}

impl Xml {
    /// Starts an empty document.
    pub(crate) fn new() -> Self {
        Xml { buf: String::with_capacity(16 * 1024), open: Vec::new() }
    }

    /// Opens `name` with `attrs`; close it with [`Xml::end`].
    pub(crate) fn start(&mut self, name: &'static str, attrs: &[(&'static str, &str)]) {
        self.tag(name, attrs);
        self.buf.push('>');
        if BLOCKS.contains(&name) {
            self.buf.push('\n');
        }
        self.open.push(name);
    }

    /// Writes a self-closing element.
    pub(crate) fn empty(&mut self, name: &'static str, attrs: &[(&'static str, &str)]) {
        self.tag(name, attrs);
        self.buf.push_str("/>\n");
    }

    /// Writes escaped text inside the open element.
    pub(crate) fn text(&mut self, text: &str) {
        escape_into(&mut self.buf, text);
    }

    /// Closes the innermost open element.
    pub(crate) fn end(&mut self) {
        if let Some(name) = self.open.pop() {
            self.buf.push_str("</");
            self.buf.push_str(name);
            self.buf.push('>');
            // A line break inside `<text>` (after a `<title>` child) would become rendered space.
            if self.open.last() != Some(&"text") {
                self.buf.push('\n');
            }
        }
    }

    /// Writes `<name attrs>text</name>`.
    pub(crate) fn leaf(&mut self, name: &'static str, attrs: &[(&'static str, &str)], text: &str) {
        self.start(name, attrs);
        self.text(text);
        self.end();
    }

    /// Writes a `<text>` at most `width_px` wide in Arial at `font_px`: a longer `full` text is
    /// cut with an ellipsis and kept whole in a `<title>` child, which browsers show on hover and
    /// screen readers can announce.
    pub(crate) fn label(&mut self, attrs: &[(&'static str, &str)], full: &str, width_px: f64, font_px: f64) {
        self.start("text", attrs);
        match fit(full, width_px, font_px) {
            Some(short) => {
                self.leaf("title", &[], full);
                self.text(&short);
            }
            None => self.text(full),
        }
        self.end();
    }

    /// Closes whatever is still open and returns the document.
    pub(crate) fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.buf
    }

    fn tag(&mut self, name: &'static str, attrs: &[(&'static str, &str)]) {
        self.buf.push('<');
        self.buf.push_str(name);
        for (key, value) in attrs {
            self.buf.push(' ');
            self.buf.push_str(key);
            self.buf.push_str("=\"");
            escape_into(&mut self.buf, value);
            self.buf.push('"');
        }
    }
}

/// Appends `text` escaped for both XML text and double-quoted attributes. Characters that XML 1.0
/// forbids (most C0 controls, U+FFFE, U+FFFF) become U+FFFD so the document stays well-formed;
/// line breaks and tabs become spaces because SVG text is a single line.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c if c < '\u{20}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// The longest start of `text` that, with an ellipsis, fits `width_px` in Arial at `font_px`; or
/// `None` when `text` fits whole. At least one character is kept.
pub(crate) fn fit(text: &str, width_px: f64, font_px: f64) -> Option<String> {
    if text_width(text, font_px) <= width_px {
        return None;
    }
    let room = width_px - text_width("…", font_px);
    let mut short = String::new();
    let mut used = 0.0;
    for c in text.chars() {
        let w = char_width(c) * font_px;
        if used + w > room && !short.is_empty() {
            break;
        }
        used += w;
        short.push(c);
    }
    short.push('…');
    Some(short)
}

/// A coordinate for an attribute: two decimals without trailing zeros. A non-finite value (which
/// callers filter out before it gets here) is written as `0` so no `NaN` can reach the SVG.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return "0".to_owned();
    }
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

/// An estimate of the rendered width of `text` in Arial at `font_px`; generous on purpose, so
/// layouts made with it do not overlap.
pub(crate) fn text_width(text: &str, font_px: f64) -> f64 {
    text.chars().map(char_width).sum::<f64>() * font_px
}

/// Arial's advance width of `c` in ems, rounded up by class (bold text is up to 10% wider).
fn char_width(c: char) -> f64 {
    match c {
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 0.3,
        ' ' | 'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '-' => 0.38,
        'm' | 'w' | 'M' | 'W' | '@' | '%' => 0.92,
        c if c.is_ascii_uppercase() => 0.74,
        c if c.is_ascii_digit() || c.is_ascii_lowercase() => 0.58,
        _ => 0.8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_and_attributes_is_escaped() {
        let mut xml = Xml::new();
        xml.leaf("text", &[("data-x", "\"a\" & 'b'")], "<script>alert(1)</script>");
        assert_eq!(
            xml.finish(),
            "<text data-x=\"&quot;a&quot; &amp; &apos;b&apos;\">&lt;script&gt;alert(1)&lt;/script&gt;</text>\n"
        );
    }

    #[test]
    fn characters_xml_forbids_are_replaced() {
        let mut out = String::new();
        escape_into(&mut out, "a\u{0}b\u{1b}c\nd\u{FFFF}");
        assert_eq!(out, "a\u{FFFD}b\u{FFFD}c d\u{FFFD}");
    }

    #[test]
    fn numbers_are_short_and_never_nan() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.239), "1.24");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(f64::INFINITY), "0");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(fit("short", 100.0, 10.0), None);
        let cut = fit("abcdefghijklmnopqrstuvwxyz", 60.0, 10.0).unwrap();
        assert!(cut.ends_with('…') && text_width(&cut, 10.0) <= 60.0, "{cut}");
        assert_eq!(fit("ééééééé", 30.0, 10.0).as_deref(), Some("éé…"));
        assert_eq!(fit("WWWW", 1.0, 10.0).as_deref(), Some("W…"), "never empty");
    }
}
