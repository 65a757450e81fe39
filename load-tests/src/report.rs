//! Reports: every run as JSON, a Markdown table, an SVG chart of throughput and p99 latency
//! against the number of clients, and the ratios between two targets.

use std::fmt::Write as _;
use std::path::Path;

use crate::stats::RunResult;

/// Writes `<name>.json`, `<name>.md` and `<name>.svg` into `dir`.
pub fn write(dir: &Path, name: &str, runs: &[RunResult]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(runs)?)?;
    std::fs::write(dir.join(format!("{name}.md")), markdown(runs))?;
    std::fs::write(dir.join(format!("{name}.svg")), svg(name, runs))?;
    Ok(())
}

/// The headline throughput of a run: revisions/s, or requests/s for REST and reconnects, or
/// deliveries/s for fanout.
pub fn throughput(run: &RunResult) -> (f64, &'static str) {
    match run.scenario.as_str() {
        "rest" | "reconnect" => (run.requests_per_s, "requests/s"),
        "fanout" => (run.deliveries_per_s, "deliveries/s"),
        _ => (run.committed_per_s, "revisions/s"),
    }
}

/// A Markdown table of runs.
pub fn markdown(runs: &[RunResult]) -> String {
    let mut out = String::from(
        "| target | scenario | clients | rate | revisions/s | deliveries/s | requests/s | ack p50 | ack p95 | ack p99 | ack max | bcast p50 | bcast p99 | conflicts | errors | skipped | server CPU | server RSS | client CPU |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} ms | {:.2} ms | {:.2} ms | {} | {} | {} | {:.2} | {:.0} MiB | {:.2} |",
            r.target,
            r.scenario,
            r.clients,
            if r.rate > 0.0 { format!("{:.0}/s", r.rate) } else { "closed".into() },
            r.committed_per_s,
            r.deliveries_per_s,
            r.requests_per_s,
            r.ack.p50_ms,
            r.ack.p95_ms,
            r.ack.p99_ms,
            r.ack.max_ms,
            r.broadcast.p50_ms,
            r.broadcast.p99_ms,
            r.conflicts,
            r.errors,
            r.skipped,
            r.server.cpu_cores,
            r.server.rss_mib,
            r.client_cpu_cores,
        );
    }
    out
}

/// An SVG chart (drawn with `plotters`): throughput (left axis, solid) and ack p99 (right
/// axis) against the number of clients, one point per run.
pub fn svg(title: &str, runs: &[RunResult]) -> String {
    let mut out = String::new();
    // Drawing into a string cannot fail for lack of space or fonts: SVG text is left to the
    // viewer. A failure would leave the chart empty, which the tests would notice.
    let _ = draw(&mut out, title, runs);
    out
}

fn draw<'a>(out: &'a mut String, title: &str, runs: &[RunResult]) -> Result<(), Box<dyn std::error::Error + 'a>> {
    use plotters::prelude::*;
    let unit = runs.first().map_or("revisions/s", |run| throughput(run).1);
    let max_t = runs.iter().map(|r| throughput(r).0).fold(1.0, f64::max) * 1.1;
    let max_l = runs.iter().map(|r| r.ack.p99_ms).fold(1.0, f64::max) * 1.1;
    let labels: Vec<String> = runs.iter().map(|r| r.clients.to_string()).collect();
    let root = SVGBackend::with_string(out, (720, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let points = 0..runs.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(points.clone(), 0f64..max_t)?
        .set_secondary_coord(points, 0f64..max_l);
    chart
        .configure_mesh()
        .x_desc("clients")
        .y_desc(unit)
        .x_labels(runs.len().max(1))
        .x_label_formatter(&|index| labels.get(*index).cloned().unwrap_or_default())
        .draw()?;
    chart.configure_secondary_axes().y_desc("ack p99 (ms)").draw()?;
    let throughput_points: Vec<(usize, f64)> = runs.iter().enumerate().map(|(i, r)| (i, throughput(r).0)).collect();
    let latency_points: Vec<(usize, f64)> = runs.iter().enumerate().map(|(i, r)| (i, r.ack.p99_ms)).collect();
    let blue = RGBColor(0x1f, 0x77, 0xb4);
    let red = RGBColor(0xd6, 0x27, 0x28);
    chart
        .draw_series(LineSeries::new(throughput_points.clone(), blue.stroke_width(2)))?
        .label(unit)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], blue));
    chart.draw_series(throughput_points.iter().map(|p| Circle::new(*p, 3, blue.filled())))?;
    chart
        .draw_secondary_series(LineSeries::new(latency_points.clone(), red.stroke_width(2)))?
        .label("ack p99 (ms)")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], red));
    chart.draw_secondary_series(latency_points.iter().map(|p| Circle::new(*p, 3, red.filled())))?;
    chart.configure_series_labels().background_style(WHITE).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

/// Ratios of `ours` to `theirs`, matched by scenario and client count.
pub fn compare(ours: &[RunResult], theirs: &[RunResult]) -> String {
    let mut out = String::from(
        "| scenario | clients | dialogue-server | ShareDB | throughput ratio | ack p99 (ours / theirs) |\n|---|---|---|---|---|---|\n",
    );
    for run in ours {
        let Some(peer) =
            theirs.iter().find(|p| p.scenario == run.scenario && p.clients == run.clients && p.rate == run.rate)
        else {
            continue;
        };
        let (mine, unit) = throughput(run);
        let (other, _) = throughput(peer);
        let ratio = if other > 0.0 { format!("{:.1}×", mine / other) } else { "∞".into() };
        let _ = writeln!(
            out,
            "| {} | {} | {mine:.0} {unit} | {other:.0} {unit} | {ratio} | {:.2} ms / {:.2} ms |",
            run.scenario, run.clients, run.ack.p99_ms, peer.ack.p99_ms
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(target: &str, clients: usize, committed_per_s: f64, p99: f64) -> RunResult {
        let mut run = RunResult {
            target: target.into(),
            scenario: "hot".into(),
            clients,
            committed_per_s,
            ..RunResult::default()
        };
        run.ack.p99_ms = p99;
        run
    }

    #[test]
    fn ratios_match_runs_by_scenario_and_clients() {
        let ours = vec![run("dialogue-server", 10, 3000.0, 4.0), run("dialogue-server", 50, 6000.0, 15.0)];
        let theirs = vec![run("sharedb", 10, 150.0, 275.0)];
        let table = compare(&ours, &theirs);
        assert!(
            table.contains("| hot | 10 | 3000 revisions/s | 150 revisions/s | 20.0× | 4.00 ms / 275.00 ms |"),
            "{table}"
        );
        assert!(!table.contains("| 50 |"), "no peer run, no row");
    }

    #[test]
    fn the_chart_and_table_have_a_point_and_a_row_per_run() {
        let runs = vec![run("dialogue-server", 1, 800.0, 1.5), run("dialogue-server", 10, 3000.0, 4.0)];
        let chart = svg("hot", &runs);
        assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
        assert_eq!(chart.matches("<circle").count(), 4, "{chart}");
        assert_eq!(markdown(&runs).lines().count(), 4);
    }
}
