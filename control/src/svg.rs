//! Small inline SVG charts for the evidence report: no scripts, no
//! external assets, every text escaped, each bar with a `<title>`
//! tooltip carrying its exact value.

use std::fmt::Write;

/// Text escaped for XML/HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// One series of a stacked bar chart: its name and colour.
pub struct Series<'a> {
    /// Shown in the legend and tooltips.
    pub name: &'a str,
    /// A CSS colour.
    pub color: &'a str,
}

/// Stacked vertical bars: one per `(label, values)`, values in the order of `series`.
pub fn stacked_bars(title: &str, series: &[Series<'_>], bars: &[(String, Vec<u64>)]) -> String {
    let (width, height, left, bottom, top) = (720.0, 240.0, 48.0, 36.0, 28.0);
    let max = bars.iter().map(|(_, v)| v.iter().sum::<u64>()).max().unwrap_or(0).max(1) as f64;
    let plot_h = height - bottom - top;
    let slot = if bars.is_empty() { 0.0 } else { (width - left - 8.0) / bars.len() as f64 };
    let bar_w = (slot * 0.8).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" class=\"chart\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\"><title>{}</title>",
        escape(title)
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#888\"/><line x1=\"{left}\" y1=\"{0}\" \
         x2=\"{}\" y2=\"{0}\" stroke=\"#888\"/>",
        height - bottom,
        width - 4.0
    );
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"11\" \
         text-anchor=\"end\">0</text>",
        left - 4.0,
        top + 4.0,
        max as u64,
        left - 4.0,
        height - bottom
    );
    for (i, (label, values)) in bars.iter().enumerate() {
        let x = left + 4.0 + i as f64 * slot;
        let mut y = height - bottom;
        for (value, s) in values.iter().zip(series) {
            if *value == 0 {
                continue;
            }
            let h = *value as f64 / max * plot_h;
            y -= h;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {} {}</title></rect>",
                escape(s.color),
                escape(label),
                value,
                escape(s.name)
            );
        }
        let every = (bars.len() / 8).max(1);
        if i % every == 0 || i + 1 == bars.len() {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                x + bar_w / 2.0,
                height - bottom + 14.0,
                escape(label.get(5..).unwrap_or(label))
            );
        }
    }
    let mut lx = left;
    for s in series {
        let _ = write!(
            svg,
            "<rect x=\"{lx}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"15\" font-size=\"11\">{}</text>",
            escape(s.color),
            lx + 14.0,
            escape(s.name)
        );
        lx += 24.0 + 7.0 * s.name.len() as f64;
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars of shares (0–1), one per `(label, share)`.
pub fn share_bars(title: &str, color: &str, bars: &[(String, f64)]) -> String {
    let (width, row, label_w) = (720.0, 22.0, 220.0);
    let height = 12.0 + row * bars.len().max(1) as f64;
    let plot_w = width - label_w - 70.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" class=\"chart\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\"><title>{}</title>",
        escape(title)
    );
    for (i, (label, share)) in bars.iter().enumerate() {
        let y = 6.0 + i as f64 * row;
        let w = share.clamp(0.0, 1.0) * plot_w;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{plot_w:.1}\" height=\"14\" fill=\"#eee\"/>\
             <rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"14\" fill=\"{}\"><title>{}: {:.1} %</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{:.1} %</text>",
            label_w - 6.0,
            y + 11.0,
            escape(label),
            escape(color),
            escape(label),
            share * 100.0,
            label_w + plot_w + 6.0,
            y + 11.0,
            share * 100.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_bars_scale_to_the_largest() {
        assert_eq!(escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
        let series = [Series { name: "pass", color: "#4caf50" }, Series { name: "blocked", color: "#d32f2f" }];
        let svg = stacked_bars("t", &series, &[("2024-05-01".into(), vec![3, 1]), ("2024-05-02".into(), vec![0, 2])]);
        assert!(
            svg.contains("<title>2024-05-01: 3 pass</title>") && svg.contains("<title>2024-05-02: 2 blocked</title>")
        );
        assert!(!svg.contains("0 pass"), "zero segments are not drawn");
        let bars = share_bars("s", "#1976d2", &[("<x>".into(), 0.25)]);
        assert!(bars.contains("&lt;x&gt;: 25.0 %"));
    }
}
