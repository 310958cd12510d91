//! `mpps.svg`: million packets per second per mix, mailgate next to its
//! peers (pipeline in memory; DPDK end to end next to testpmd macswap;
//! offline inspect next to ndpiReader), grouped bars drawn with plotters'
//! SVG backend.

use std::path::Path;

use plotters::prelude::*;

use super::captures::mix_name;
use super::report::Results;
use crate::mix::Mix;

const MIXES: [Mix; 3] = [Mix::Nonmail64, Mix::Realistic, Mix::Mailstorm];

/// A series: its name, colour, and value per mix (None = not measured).
struct Series {
    name: &'static str,
    colour: RGBColor,
    values: [Option<f64>; 3],
}

fn per_mix(f: impl Fn(Mix) -> Option<f64>) -> [Option<f64>; 3] {
    MIXES.map(f)
}

fn series(results: &Results) -> Vec<Series> {
    let pipeline = results.pipeline.done();
    let fwd = results.forwarding.done();
    // The offline figure per mix comes from the mix's 100k-frame capture (the
    // first of that mix), so that every bar of a group measures the same bytes.
    let off = results.offline.done();
    vec![
        Series {
            name: "mailgate pipeline, in memory",
            colour: RGBColor(31, 119, 180),
            values: per_mix(|m| pipeline?.iter().find(|p| p.mix == m).map(|p| p.mpps)),
        },
        Series {
            name: "mailgate-dataplane run (DPDK)",
            colour: RGBColor(44, 160, 44),
            values: per_mix(|m| fwd?.iter().find(|f| f.mix == m).map(|f| f.mailgate_mpps)),
        },
        Series {
            name: "dpdk-testpmd macswap",
            colour: RGBColor(152, 223, 138),
            values: per_mix(|m| fwd?.iter().find(|f| f.mix == m).map(|f| f.testpmd_mpps)),
        },
        Series {
            name: "mailgate-dataplane inspect",
            colour: RGBColor(214, 39, 40),
            values: per_mix(|m| off?.iter().find(|o| o.mix == m).map(|o| o.inspect_pps / 1e6)),
        },
        Series {
            name: "ndpiReader -i",
            colour: RGBColor(255, 152, 150),
            values: per_mix(|m| off?.iter().find(|o| o.mix == m).map(|o| o.ndpi_pps / 1e6)),
        },
    ]
}

/// Draws the chart of `results` into `path`.
pub fn draw(results: &Results, path: &Path) -> anyhow::Result<()> {
    let series = series(results);
    let top = series.iter().flat_map(|s| s.values.iter().flatten()).copied().fold(1.0f64, f64::max) * 1.5; // headroom for the legend
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!("Packets per second per mix, one core — {}", results.machine.short());
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0f64..3.0, 0.0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        // Ticks every 0.5: the group centres (i + 0.5) are named, the rest left blank.
        .x_labels(7)
        .x_label_formatter(&|x| {
            let i = (x - 0.5).round();
            match MIXES.get(i as usize) {
                Some(m) if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 => mix_name(*m).to_string(),
                _ => String::new(),
            }
        })
        .y_desc("Mpps")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    let width = 0.8 / series.len() as f64;
    for (k, s) in series.iter().enumerate() {
        let bars = s.values.iter().enumerate().filter_map(|(i, v)| {
            let x0 = i as f64 + 0.1 + k as f64 * width;
            v.map(|v| Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v)], s.colour.filled()))
        });
        chart
            .draw_series(bars)?
            .label(s.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], s.colour.filled()));
        let labels = s.values.iter().enumerate().filter_map(|(i, v)| {
            let x = i as f64 + 0.1 + (k as f64 + 0.1) * width;
            v.map(|v| Text::new(format!("{v:.1}"), (x, v + top * 0.01), ("sans-serif", 11)))
        });
        chart.draw_series(labels)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
