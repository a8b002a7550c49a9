//! A strip chart: the spread of one value per category, every observation a
//! dot and the mean a black tick. The demo draws each strategy's composite
//! over the tempos with it, so a reader sees how far the winner's worst round
//! sits above everyone else's best.

use plotters::prelude::*;

use crate::html::{clean_text, shorten};
use crate::plot::{
    GREY, LEGEND_WIDTH, Legend, MESH_BOLD, MESH_LIGHT, PALETTE, PlotResult, WIDTH, font,
    legend_label, plottable, svg, value_range, value_tick,
};

/// At most this many categories are drawn.
pub(crate) const MAX_STRIPS: usize = 32;

/// One category: a label and its observations.
pub(crate) struct Strip {
    /// Axis label (untrusted; cleaned here).
    pub label: String,
    /// Palette index of its dots; `None` draws them grey.
    pub colour: Option<usize>,
    /// The observations; non-finite values are skipped.
    pub values: Vec<f64>,
}

/// A strip chart.
pub(crate) struct StripChart<'a> {
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub strips: Vec<Strip>,
    /// Extra legend lines (notes).
    pub notes: Vec<String>,
}

/// A deterministic horizontal offset in `[-0.25, 0.25]` for the `i`-th dot,
/// so equal values do not hide each other.
fn jitter(i: usize) -> f64 {
    // The golden-ratio sequence spreads any number of dots evenly.
    let f = (i as f64 * 0.618_033_988_749_895).fract();
    (f - 0.5) * 0.5
}

/// Renders the chart as SVG.
pub(crate) fn strip_chart(chart: &StripChart<'_>) -> PlotResult<String> {
    let strips = &chart.strips[..chart.strips.len().min(MAX_STRIPS)];
    let n = strips.len().max(1);
    let (y_lo, y_hi) = value_range(strips.iter().flat_map(|s| s.values.iter().copied()), 1.0);
    let labels: Vec<String> = strips
        .iter()
        .map(|s| shorten(&clean_text(&s.label), 10))
        .collect();
    let x_tick = |x: &f64| {
        let r = x.round();
        if (x - r).abs() < 1e-9 && r >= 0.0 {
            labels.get(r as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
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
            .label_style(font(10))
            .axis_desc_style(font(13))
            .draw()?;
        let mut legend = Legend { entries: vec![] };
        for (i, strip) in strips.iter().enumerate() {
            let colour = strip.colour.map_or(GREY, |c| PALETTE[c % PALETTE.len()]);
            let values: Vec<f64> = strip.values.iter().copied().filter_map(plottable).collect();
            let x = i as f64;
            ctx.draw_series(
                values
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| Circle::new((x + jitter(j), v), 3, colour.filled())),
            )?;
            if !values.is_empty() {
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                ctx.draw_series(LineSeries::new(
                    vec![(x - 0.3, mean), (x + 0.3, mean)],
                    BLACK.stroke_width(2),
                ))?;
            }
            if strip.colour.is_some() {
                legend
                    .entries
                    .push((Some(colour.stroke_width(8)), legend_label(&strip.label)));
            }
        }
        legend
            .entries
            .push((Some(BLACK.stroke_width(2)), legend_label("mean")));
        if chart.strips.len() > strips.len() {
            let note = format!("first {} of {} shown", strips.len(), chart.strips.len());
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
    fn draws_every_finite_observation_and_survives_junk() {
        let chart = StripChart {
            x_desc: "strategy",
            y_desc: "composite",
            strips: vec![
                Strip {
                    label: "reference".into(),
                    colour: Some(0),
                    values: vec![0.6, 0.62, 0.58],
                },
                Strip {
                    label: "<script>".into(),
                    colour: None,
                    values: vec![f64::NAN, 0.1, f64::INFINITY],
                },
                Strip {
                    label: String::new(),
                    colour: None,
                    values: vec![],
                },
            ],
            notes: vec!["4 tempos".into()],
        };
        let svg = strip_chart(&chart).unwrap();
        assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("reference"));
    }

    #[test]
    fn jitter_stays_inside_the_strip() {
        for i in 0..1000 {
            assert!(jitter(i).abs() <= 0.25);
        }
    }
}
