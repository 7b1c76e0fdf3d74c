//! A hand-written SVG line chart of records/s against concurrency.

use std::fmt::Write;

use super::report::thousands;

/// One line of the chart.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) color: &'static str,
    pub(crate) dashed: bool,
    /// (K, records/s), K ascending.
    pub(crate) points: Vec<(usize, f64)>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;

/// Records/s (linear) against K (log₂), one polyline per series; lines
/// above the axis top are clipped.
pub(crate) fn chart(title: &str, ks: &[usize], series: &[Series], y_max: f64) -> String {
    let y_top = nice_ceiling(y_max);
    let k_min = ks.first().copied().unwrap_or(1).max(1) as f64;
    let k_max = ks.last().copied().unwrap_or(2).max(2) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |k: usize| {
        let span = (k_max.log2() - k_min.log2()).max(1e-9);
        LEFT + ((k.max(1) as f64).log2() - k_min.log2()) / span * plot_w
    };
    let y = |v: f64| TOP + plot_h - (v / y_top).clamp(0.0, 1.0) * plot_h;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>
<clipPath id="plot"><rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/></clipPath>
"#,
        WIDTH / 2.0,
        escape(title)
    );
    for i in 0..=5 {
        let v = y_top * f64::from(i) / 5.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ddd"/><text x="{2}" y="{3:.1}" text-anchor="end">{4}</text>"##,
            y(v),
            WIDTH - RIGHT,
            LEFT - 8.0,
            y(v) + 4.0,
            thousands(v)
        );
    }
    for &k in ks {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1}" stroke="#eee"/><text x="{0:.1}" y="{2}" text-anchor="middle">{k}</text>"##,
            x(k),
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{0}" stroke="#333"/>"##,
        TOP + plot_h,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">pages in flight (K), log scale</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 30.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">records/s</text>"#,
        TOP + plot_h / 2.0
    );
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(k, v)| format!("{:.1},{:.1}", x(k), y(v)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<polyline clip-path="url(#plot)" fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
            s.color,
            points.join(" ")
        );
        if !s.dashed {
            for &(k, v) in &s.points {
                if v <= y_top {
                    let _ = writeln!(
                        svg,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"><title>K={k}: {} records/s</title></circle>"#,
                        x(k),
                        y(v),
                        s.color,
                        thousands(v)
                    );
                }
            }
        }
        let ly = TOP + 8.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="{3}" stroke-width="2"{dash}/><text x="{4}" y="{5:.1}">{6}</text>"#,
            LEFT + 14.0,
            ly,
            LEFT + 40.0,
            s.color,
            LEFT + 46.0,
            ly + 4.0,
            escape(&s.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The next "round" number at or above `v` (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8
/// times a power of ten).
fn nice_ceiling(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(130_000.0), 150_000.0);
        assert_eq!(nice_ceiling(251_000.0), 300_000.0);
        assert_eq!(nice_ceiling(210_000.0), 250_000.0);
        assert_eq!(nice_ceiling(100_000.0), 100_000.0);
    }

    #[test]
    fn chart_has_a_line_per_series() {
        let series = [
            Series {
                name: "haul <K>".into(),
                color: "#c0392b",
                dashed: false,
                points: vec![(1, 10.0), (4, 40.0)],
            },
            Series {
                name: "ideal".into(),
                color: "#999",
                dashed: true,
                points: vec![(1, 12.0), (4, 48.0)],
            },
        ];
        let svg = chart("t", &[1, 4], &series, 48.0);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("haul &lt;K&gt;"));
    }
}
