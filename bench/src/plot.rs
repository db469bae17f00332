//! The bench's SVG plots (`plotters`, SVG backend only): lines of cost against rule
//! count, both axes logarithmic, one line per series with its points marked and a
//! legend. Used by the rule-set table (`--svg`) and the head-to-head (`peer.svg`).
//! Invariant: only finite, positive points are drawn (a log axis has no room for
//! the others); with none at all the plot is refused, not drawn empty.

use std::path::Path;

use plotters::prelude::*;

/// A plot's texts: the caption and the two axes' descriptions.
pub struct Labels<'a> {
    pub caption: &'a str,
    pub x: &'a str,
    pub y: &'a str,
}

/// `series` (label, points) as lines on log-log axes, written to `path`.
pub fn log_log(
    path: &Path,
    labels: &Labels,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(label, pts)| {
            let kept = pts
                .iter()
                .copied()
                .filter(|&(x, y)| x.is_finite() && y.is_finite() && x > 0.0 && y > 0.0);
            (label.as_str(), kept.collect())
        })
        .collect();
    let points = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let range = |v: &mut dyn Iterator<Item = f64>| {
        v.fold((f64::INFINITY, 0f64), |(a, b), x| (a.min(x), b.max(x)))
    };
    let (xmin, xmax) = range(&mut points().map(|(x, _)| x));
    let (ymin, ymax) = range(&mut points().map(|(_, y)| y));
    if !(xmin.is_finite() && ymin.is_finite()) {
        return Err("nothing to plot".into());
    }
    let err = |e: &dyn std::fmt::Display| format!("plot {}: {e}", path.display());
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(labels.caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            ((xmin / 1.5)..(xmax * 1.5)).log_scale(),
            ((ymin / 1.5)..(ymax * 1.5)).log_scale(),
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(labels.x)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .y_desc(labels.y)
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (label, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}
