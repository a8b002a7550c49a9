//! SVG charts drawn with `plotters` into a `String`.
//!
//! Text is written as SVG `<text>` elements that the viewer lays out with its
//! own default sans-serif font, so nothing here needs a font file. Inputs are
//! sanitised before they reach `plotters`: non-finite values and values far
//! outside any share or score are skipped, axis ranges always have a positive
//! width, and labels are cleaned of characters XML forbids and shortened.

use std::error::Error;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::html::{clean_text, shorten};

/// Width and height of every chart, in SVG user units.
pub(crate) const WIDTH: u32 = 900;
const HEIGHT: u32 = 360;
/// Width of the legend column on the right.
pub(crate) const LEGEND_WIDTH: u32 = 210;
/// Vertical distance between legend entries.
const LEGEND_STEP: i32 = 18;
/// Legend labels are cut to this many characters.
const LEGEND_CHARS: usize = 27;
/// Values beyond ±this are not plotted: shares, scores and dividend ratios
/// are far inside it, and one absurd value would flatten every other line.
const VALUE_LIMIT: f64 = 1e6;
/// At most this many groups in the bar chart.
pub(crate) const MAX_BAR_GROUPS: usize = 24;

/// Colour-blind-friendly palette; index `i` is the `i`-th legend colour.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 94, 60),
    RGBColor(0, 0, 0),
    RGBColor(150, 40, 40),
    RGBColor(90, 90, 200),
];
pub(crate) const GREY: RGBColor = RGBColor(185, 185, 185);
pub(crate) const MESH_LIGHT: RGBColor = RGBColor(238, 238, 238);
pub(crate) const MESH_BOLD: RGBColor = RGBColor(215, 215, 215);

pub(crate) type PlotResult<T> = Result<T, Box<dyn Error>>;

/// One line of a line chart.
pub(crate) struct Series {
    /// Legend text (untrusted; cleaned here).
    pub label: String,
    /// Palette index; `None` draws the line grey and leaves it out of the legend.
    pub colour: Option<usize>,
    /// `(x, y)` points in x order; non-finite `y` breaks the line.
    pub points: Vec<(f64, f64)>,
}

/// A line chart over tempos.
pub(crate) struct LineChart<'a> {
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub series: Vec<Series>,
    /// A dashed horizontal reference line and its legend text.
    pub reference: Option<(f64, &'a str)>,
    /// Extra legend lines without a colour (notes).
    pub notes: Vec<String>,
}

/// One group of the bar chart: a label and its bar heights.
pub(crate) struct BarGroup {
    pub label: String,
    pub bars: Vec<f64>,
    /// Drawn as a black tick across the group.
    pub marker: Option<f64>,
}

/// A grouped bar chart.
pub(crate) struct BarChart<'a> {
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub bar_names: &'a [&'a str],
    pub marker_name: &'a str,
    pub groups: Vec<BarGroup>,
    pub notes: Vec<String>,
}

/// A value fit to plot: finite and within ±[`VALUE_LIMIT`].
pub(crate) fn plottable(v: f64) -> Option<f64> {
    (v.is_finite() && v.abs() <= VALUE_LIMIT).then_some(v)
}

/// An axis range that covers 0 and every plottable value, with a positive width.
pub(crate) fn value_range(values: impl Iterator<Item = f64>, at_least: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, at_least);
    for v in values.filter_map(plottable) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo < 1e-12 {
        hi = lo + 1.0;
    }
    (lo, hi + (hi - lo) * 0.05)
}

pub(crate) fn legend_label(s: &str) -> String {
    shorten(&clean_text(s), LEGEND_CHARS)
}

pub(crate) fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// Short value labels: `0`, `0.25`, `1.5`, `2.0e4`.
pub(crate) fn value_tick(v: &f64) -> String {
    let a = v.abs();
    if a < 1e-12 {
        "0".to_string()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Integers only (tempo numbers); half steps chosen by the axis get no label.
fn integer_tick(x: &f64) -> String {
    let r = x.round();
    if (x - r).abs() < 1e-9 && r >= 0.0 {
        format!("{r:.0}")
    } else {
        String::new()
    }
}

/// Draws the chart through `draw` onto a fresh SVG string.
pub(crate) fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> PlotResult<()>,
) -> PlotResult<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    Ok(buf)
}

/// Legend entries: a short line in the entry's colour, or none for a note.
pub(crate) struct Legend {
    pub(crate) entries: Vec<(Option<ShapeStyle>, String)>,
}

impl Legend {
    pub(crate) fn draw(&self, area: &DrawingArea<SVGBackend<'_>, Shift>) -> PlotResult<()> {
        let room = ((HEIGHT as i32 - 30) / LEGEND_STEP).max(1) as usize;
        let shown = if self.entries.len() > room {
            room - 1
        } else {
            self.entries.len()
        };
        let style = font(12).pos(Pos::new(HPos::Left, VPos::Center));
        let mut y = 24;
        for (line, text) in &self.entries[..shown] {
            if let Some(line) = line {
                area.draw(&PathElement::new(vec![(6, y), (28, y)], *line))?;
            }
            area.draw(&Text::new(text.clone(), (34, y), style.clone()))?;
            y += LEGEND_STEP;
        }
        if shown < self.entries.len() {
            let rest = format!("+ {} more entries", self.entries.len() - shown);
            area.draw(&Text::new(rest, (34, y), style))?;
        }
        Ok(())
    }
}

/// Renders a line chart; `series` with a colour appear in the legend in order.
pub(crate) fn line_chart(chart: &LineChart<'_>) -> PlotResult<String> {
    let xs = || {
        chart
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
    };
    let (mut x_lo, mut x_hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in xs().filter(|x| x.is_finite()) {
        x_lo = x_lo.min(x);
        x_hi = x_hi.max(x);
    }
    if x_lo > x_hi {
        (x_lo, x_hi) = (0.0, 0.0);
    }
    let (x_lo, x_hi) = (x_lo - 0.5, x_hi + 0.5);
    let ys = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1));
    let reference = chart
        .reference
        .and_then(|(y, t)| plottable(y).map(|y| (y, t)));
    let (y_lo, y_hi) = value_range(ys.chain(reference.map(|r| r.0)), 0.0);
    let span = (x_hi - x_lo).round().max(1.0) as usize;

    svg(|root| {
        let (plot_area, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut ctx = ChartBuilder::on(&plot_area)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
        ctx.configure_mesh()
            .x_desc(chart.x_desc)
            .y_desc(chart.y_desc)
            .x_labels(span.min(12) + 1)
            .y_labels(6)
            .x_label_formatter(&integer_tick)
            .y_label_formatter(&value_tick)
            .light_line_style(MESH_LIGHT)
            .bold_line_style(MESH_BOLD)
            .label_style(font(12))
            .axis_desc_style(font(13))
            .draw()?;

        let mut legend = Legend { entries: vec![] };
        if let Some((y, text)) = reference {
            let style = GREY.stroke_width(2);
            ctx.draw_series(DashedLineSeries::new(
                vec![(x_lo, y), (x_hi, y)],
                6,
                4,
                style,
            ))?;
            legend.entries.push((Some(style), legend_label(text)));
        }
        // Grey lines first so the coloured ones stay on top.
        let mut order: Vec<&Series> = chart.series.iter().collect();
        order.sort_by_key(|s| s.colour.is_some());
        let mut greys = 0usize;
        for s in order {
            let (style, point) = match s.colour {
                Some(i) => (PALETTE[i % PALETTE.len()].stroke_width(2), 3),
                None => {
                    greys += 1;
                    (GREY.stroke_width(1), 2)
                }
            };
            for run in finite_runs(&s.points) {
                ctx.draw_series(LineSeries::new(run, style).point_size(point))?;
            }
        }
        for s in chart.series.iter().filter(|s| s.colour.is_some()) {
            let style = PALETTE[s.colour.unwrap_or(0) % PALETTE.len()].stroke_width(2);
            legend.entries.push((Some(style), legend_label(&s.label)));
        }
        if greys > 0 {
            let note = format!("{greys} more (grey)");
            legend.entries.push((Some(GREY.stroke_width(1)), note));
        }
        for note in &chart.notes {
            legend.entries.push((None, legend_label(note)));
        }
        legend.draw(&legend_area)
    })
}

/// Splits points into runs of plottable values.
fn finite_runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![];
    let mut run = vec![];
    for &(x, y) in points {
        match plottable(y) {
            Some(y) if x.is_finite() => run.push((x, y)),
            _ => {
                if !run.is_empty() {
                    runs.push(std::mem::take(&mut run));
                }
            }
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Renders a grouped bar chart, groups left to right in the order given.
pub(crate) fn bar_chart(chart: &BarChart<'_>) -> PlotResult<String> {
    let groups = &chart.groups[..chart.groups.len().min(MAX_BAR_GROUPS)];
    let n = groups.len().max(1);
    let values = groups
        .iter()
        .flat_map(|g| g.bars.iter().copied().chain(g.marker));
    let (y_lo, y_hi) = value_range(values, 1.0);
    let labels: Vec<String> = groups
        .iter()
        .map(|g| shorten(&clean_text(&g.label), 8))
        .collect();
    let x_tick = |x: &f64| {
        let r = x.round();
        if (x - r).abs() < 1e-9 && r >= 0.0 {
            labels.get(r as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let bars = chart.bar_names.len().max(1);
    let width = 0.8 / bars as f64;

    svg(|root| {
        let (plot_area, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut ctx = ChartBuilder::on(&plot_area)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), y_lo..y_hi)?;
        ctx.configure_mesh()
            .x_desc(chart.x_desc)
            .y_desc(chart.y_desc)
            .x_labels(n)
            .y_labels(6)
            .x_label_formatter(&x_tick)
            .y_label_formatter(&value_tick)
            .disable_x_mesh()
            .light_line_style(MESH_LIGHT)
            .bold_line_style(MESH_BOLD)
            .label_style(font(12))
            .axis_desc_style(font(13))
            .draw()?;

        for (gi, group) in groups.iter().enumerate() {
            let left = gi as f64 - 0.4;
            for (bi, &v) in group.bars.iter().take(bars).enumerate() {
                let Some(v) = plottable(v) else { continue };
                let x0 = left + bi as f64 * width;
                let colour = PALETTE[bi % PALETTE.len()];
                ctx.draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.9, v)],
                    colour.filled(),
                )))?;
            }
            if let Some(m) = group.marker.and_then(plottable) {
                ctx.draw_series(LineSeries::new(
                    vec![(left - 0.02, m), (left + 0.82, m)],
                    BLACK.stroke_width(2),
                ))?;
            }
        }

        let mut legend = Legend { entries: vec![] };
        for (bi, name) in chart.bar_names.iter().enumerate() {
            let style = PALETTE[bi % PALETTE.len()].stroke_width(8);
            legend.entries.push((Some(style), legend_label(name)));
        }
        legend
            .entries
            .push((Some(BLACK.stroke_width(2)), legend_label(chart.marker_name)));
        if chart.groups.len() > groups.len() {
            let note = format!("first {} of {} shown", groups.len(), chart.groups.len());
            legend.entries.push((None, note));
        }
        for note in &chart.notes {
            legend.entries.push((None, legend_label(note)));
        }
        legend.draw(&legend_area)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_always_have_width() {
        assert_eq!(value_range([].into_iter(), 0.0), (0.0, 1.05));
        let (lo, hi) = value_range([f64::NAN, f64::INFINITY, 0.0].into_iter(), 0.0);
        assert!(lo == 0.0 && hi > lo);
        let (lo, hi) = value_range([-2.0, 3.0].into_iter(), 1.0);
        assert!(lo == -2.0 && hi > 3.0);
        assert_eq!(value_range([1e300, -1e7].into_iter(), 0.0), (0.0, 1.05));
    }

    #[test]
    fn runs_break_at_non_finite_values() {
        let pts = [
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 2.0),
            (3.0, 3.0),
            (4.0, f64::INFINITY),
            (5.0, 1e300),
        ];
        assert_eq!(
            finite_runs(&pts),
            vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]
        );
    }

    #[test]
    fn value_ticks_are_short() {
        assert_eq!(value_tick(&0.0), "0");
        assert_eq!(value_tick(&0.25), "0.25");
        assert_eq!(value_tick(&1.0), "1");
        assert_eq!(value_tick(&-0.5), "-0.5");
        assert_eq!(value_tick(&20000.0), "2.0e4");
        assert_eq!(value_tick(&0.0001), "1.0e-4");
    }

    #[test]
    fn integer_ticks_only() {
        assert_eq!(integer_tick(&2.0), "2");
        assert_eq!(integer_tick(&2.5), "");
        assert_eq!(integer_tick(&-1.0), "");
    }
}
