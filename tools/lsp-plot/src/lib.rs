#![doc = include_str!("../README.md")]

use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// One line of a chart.
#[derive(Debug, Clone)]
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
    dashed: bool,
}

/// A line chart, drawn by [`Chart::to_svg`].
#[derive(Debug, Clone, Default)]
pub struct Chart {
    title: String,
    x_label: String,
    y_label: String,
    x_log: bool,
    legend_low: bool,
    series: Vec<Series>,
}

impl Chart {
    /// An empty chart with a title.
    pub fn new(title: &str) -> Self {
        Self {
            title: title.into(),
            ..Self::default()
        }
    }

    /// Names the x axis.
    pub fn x_label(mut self, label: &str) -> Self {
        self.x_label = label.into();
        self
    }

    /// Names the y axis.
    pub fn y_label(mut self, label: &str) -> Self {
        self.y_label = label.into();
        self
    }

    /// Draws the x axis in powers of ten (x values must be positive).
    pub fn x_log(mut self) -> Self {
        self.x_log = true;
        self
    }

    /// Puts the legend in the lower right corner instead of the upper left.
    pub fn legend_low(mut self) -> Self {
        self.legend_low = true;
        self
    }

    /// Adds a solid line with markers.
    pub fn line(mut self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.series.push(Series {
            name: name.into(),
            points,
            dashed: false,
        });
        self
    }

    /// Adds a dashed line without markers: a bound or a reference.
    pub fn dashed(mut self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.series.push(Series {
            name: name.into(),
            points,
            dashed: true,
        });
        self
    }

    /// The chart as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let pts = || self.series.iter().flat_map(|s| s.points.iter());
        // A log axis spans the positive values; the rest sit on its left edge.
        let xs = |f: fn(f64, f64) -> f64, init| {
            pts()
                .filter(|p| !self.x_log || p.0 > 0.0)
                .map(|p| self.fx(p.0))
                .fold(init, f)
        };
        let (x0, x1) = widen(xs(f64::min, f64::INFINITY), xs(f64::max, f64::NEG_INFINITY));
        let y_max = pts().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let y_min = pts().map(|p| p.1).fold(f64::INFINITY, f64::min).min(0.0);
        let (y0, y1) = widen(y_min, y_max);
        let y_ticks = nice_ticks(y0, y1);
        let (y0, y1) = (
            y_ticks.first().copied().unwrap_or(y0).min(y0),
            y_ticks.last().copied().unwrap_or(y1).max(y1),
        );
        let px = |x: f64| {
            let fx = if self.x_log && x <= 0.0 {
                x0
            } else {
                self.fx(x)
            };
            LEFT + (fx - x0) / (x1 - x0) * (W - LEFT - RIGHT)
        };
        let py = |y: f64| H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM);

        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
             font-family=\"sans-serif\" font-size=\"12\">\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
             <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>",
            W / 2.0,
            escape(&self.title)
        );
        // Axes, grid and ticks.
        for t in &y_ticks {
            let y = py(*t);
            let _ = write!(
                out,
                "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                W - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                label(*t)
            );
        }
        let x_ticks: Vec<f64> = if self.x_log {
            (x0.floor() as i32..=x1.ceil() as i32)
                .flat_map(|e| {
                    // Ticks at 1, 2 and 5 for a short axis, at powers of ten for a long one.
                    let m: &[f64] = if x1 - x0 > 3.0 {
                        &[1.0]
                    } else {
                        &[1.0, 2.0, 5.0]
                    };
                    m.iter().map(move |m| m * 10f64.powi(e)).collect::<Vec<_>>()
                })
                .filter(|t| (x0 - 1e-9..=x1 + 1e-9).contains(&t.log10()))
                .collect()
        } else {
            nice_ticks(x0, x1)
        };
        for t in &x_ticks {
            let x = px(*t);
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#eee\"/>\
                 <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                H - BOTTOM,
                H - BOTTOM + 16.0,
                label(*t)
            );
        }
        let _ = write!(
            out,
            "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
             <text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            W - LEFT - RIGHT,
            H - TOP - BOTTOM,
            (LEFT + W - RIGHT) / 2.0,
            H - 12.0,
            escape(&self.x_label),
            (TOP + H - BOTTOM) / 2.0,
            escape(&self.y_label)
        );
        // Lines, then the legend.
        for (i, s) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let path: Vec<String> = s
                .points
                .iter()
                .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
                .collect();
            let dash = if s.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>",
                path.join(" ")
            );
            if !s.dashed && s.points.len() <= 40 {
                for p in &s.points {
                    let _ = write!(
                        out,
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"/>",
                        px(p.0),
                        py(p.1)
                    );
                }
            }
        }
        self.legend(&mut out);
        out.push_str("</svg>\n");
        out
    }

    fn legend(&self, out: &mut String) {
        let rows = self.series.len() as f64;
        let width = 60.0
            + 7.0
                * self
                    .series
                    .iter()
                    .map(|s| s.name.chars().count())
                    .max()
                    .unwrap_or(0) as f64;
        let height = 18.0 * rows + 8.0;
        let (x, y) = if self.legend_low {
            (W - RIGHT - width - 8.0, H - BOTTOM - height - 8.0)
        } else {
            (LEFT + 8.0, TOP + 8.0)
        };
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{height:.1}\" \
             fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>"
        );
        for (i, s) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let dash = if s.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            };
            let ly = y + 13.0 + 18.0 * i as f64;
            let _ = write!(
                out,
                "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x + 8.0,
                x + 32.0,
                x + 38.0,
                ly + 4.0,
                escape(&s.name)
            );
        }
    }

    fn fx(&self, x: f64) -> f64 {
        if self.x_log {
            x.max(f64::MIN_POSITIVE).log10()
        } else {
            x
        }
    }
}

/// The empirical distribution of `samples`: (value, fraction of samples at
/// or below it), at most 200 points.
pub fn cdf(samples: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let step = n.div_ceil(200).max(1);
    let mut out: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| (v[i], (i + 1) as f64 / n as f64))
        .collect();
    if let Some(&last) = v.last()
        && out.last().map(|p| p.1) != Some(1.0)
    {
        out.push((last, 1.0));
    }
    out
}

/// An axis range that is not empty.
fn widen(lo: f64, hi: f64) -> (f64, f64) {
    match (lo.is_finite(), hi.is_finite()) {
        (true, true) if hi > lo => (lo, hi),
        (true, true) => (lo - 0.5, lo + 0.5),
        _ => (0.0, 1.0),
    }
}

/// Round tick values (1, 2 or 5 times a power of ten) covering `lo..=hi`.
fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn label(v: f64) -> String {
    if v.abs() >= 1000.0 && (v / 1000.0).fract() == 0.0 {
        format!("{}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_ends_at_one_and_rises() {
        let c = cdf(&[5.0, 1.0, 3.0]);
        assert_eq!(c, vec![(1.0, 1.0 / 3.0), (3.0, 2.0 / 3.0), (5.0, 1.0)]);
        let big: Vec<f64> = (0..1000).map(f64::from).collect();
        let c = cdf(&big);
        assert!(c.len() <= 201);
        assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
        assert_eq!(c.last(), Some(&(999.0, 1.0)));
        assert!(cdf(&[]).is_empty());
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = nice_ticks(0.0, 7.3);
        assert_eq!(t.first(), Some(&0.0));
        assert!(*t.last().unwrap() >= 7.3);
        assert!(
            t.iter()
                .all(|v| (v / 2.0).fract() == 0.0 || (v / 1.0).fract() == 0.0)
        );
    }

    #[test]
    fn svg_has_every_series_and_escapes_text() {
        let svg = Chart::new("a < b")
            .x_log()
            .line("one", vec![(1000.0, 4.0), (10000.0, 6.0)])
            .dashed("bound", vec![(1000.0, 5.5), (10000.0, 7.1)])
            .to_svg();
        assert!(svg.contains("a &lt; b"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(">1k<") && svg.contains(">10k<"));
        // Zero on a log axis sits on the left edge instead of stretching it.
        let svg = Chart::new("t")
            .x_log()
            .line("l", vec![(0.0, 0.1), (100.0, 0.5), (1000.0, 1.0)])
            .to_svg();
        assert!(svg.contains(">100<") && svg.contains(">1k<") && !svg.contains("NaN"));
        // An empty chart still renders.
        assert!(Chart::new("empty").to_svg().ends_with("</svg>\n"));
    }
}
