//! Reports: every run as JSON, a Markdown table, an SVG chart of throughput and p99 latency
//! against the number of clients, and the ratios between two targets.

use std::fmt::Write as _;
use std::path::Path;

use crate::stats::{Latency, RunResult};

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

/// The latency a run is judged by: the cold load for `cold`, the ack (or request) otherwise.
pub fn headline_latency(run: &RunResult) -> (&Latency, &'static str) {
    match run.scenario.as_str() {
        "cold" => (&run.cold_load, "cold load p99 (ms)"),
        _ => (&run.ack, "ack p99 (ms)"),
    }
}

/// An optional figure with `decimals` decimals, or "–" when absent.
fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |value| format!("{value:.decimals$}"))
}

/// One line saying how a run went, for the terminal.
pub fn summary_line(r: &RunResult) -> String {
    let (value, unit) = throughput(r);
    let mut line = format!(
        "{} {} clients={}: {value:.0} {unit}, ack p99 {:.2} ms, broadcast p99 {:.2} ms, errors {}, refused {}, round trips/revision {}, server CPU {:.2}, server RSS {:.0} MiB, client CPU {:.2}",
        r.target,
        r.scenario,
        r.clients,
        r.ack.p99_ms,
        r.broadcast.p99_ms,
        r.errors,
        r.refused,
        optional(r.round_trips_per_revision, 3),
        r.server.cpu_cores,
        r.server.rss_mib,
        r.client_cpu_cores,
    );
    if r.get.count > 0 {
        let size = r.dialogue_bytes.map_or_else(|| "?".to_owned(), |bytes| bytes.to_string());
        let _ = write!(line, ", dialogue {size} bytes, GET p50 {:.2} ms p99 {:.2} ms", r.get.p50_ms, r.get.p99_ms);
    }
    if r.cold_load.count > 0 {
        let _ = write!(
            line,
            ", cold load p50 {:.2} ms p99 {:.2} ms max {:.2} ms over {} loads, {} round trips/load",
            r.cold_load.p50_ms,
            r.cold_load.p99_ms,
            r.cold_load.max_ms,
            r.cold_load.count,
            optional(r.cold_load_round_trips, 1),
        );
    }
    if !r.ack_by_server.is_empty() {
        let _ = write!(
            line,
            ", ack p50 by server {}, p99 by server {}",
            by_server(r, |ack| ack.p50_ms),
            by_server(r, |ack| ack.p99_ms)
        );
    }
    line
}

/// One figure of each server's acks, in server order: "9.18 / 12.82 ms" ("–" without).
fn by_server(r: &RunResult, figure: fn(&Latency) -> f64) -> String {
    if r.ack_by_server.is_empty() {
        return "–".to_owned();
    }
    let figures: Vec<String> = r.ack_by_server.iter().map(|ack| format!("{:.2}", figure(ack))).collect();
    format!("{} ms", figures.join(" / "))
}

/// A column of the Markdown table.
struct Column {
    header: &'static str,
    cell: fn(&RunResult) -> String,
}

/// The columns every table has.
const COLUMNS: &[Column] = &[
    Column { header: "target", cell: |r| r.target.clone() },
    Column { header: "scenario", cell: |r| r.scenario.clone() },
    Column { header: "clients", cell: |r| r.clients.to_string() },
    Column { header: "rate", cell: |r| if r.rate > 0.0 { format!("{:.0}/s", r.rate) } else { "closed".into() } },
    Column { header: "revisions/s", cell: |r| format!("{:.0}", r.committed_per_s) },
    Column { header: "deliveries/s", cell: |r| format!("{:.0}", r.deliveries_per_s) },
    Column { header: "requests/s", cell: |r| format!("{:.0}", r.requests_per_s) },
    Column { header: "ack p50", cell: |r| format!("{:.2} ms", r.ack.p50_ms) },
    Column { header: "ack p95", cell: |r| format!("{:.2} ms", r.ack.p95_ms) },
    Column { header: "ack p99", cell: |r| format!("{:.2} ms", r.ack.p99_ms) },
    Column { header: "ack max", cell: |r| format!("{:.1} ms", r.ack.max_ms) },
    Column { header: "bcast p50", cell: |r| format!("{:.2} ms", r.broadcast.p50_ms) },
    Column { header: "bcast p99", cell: |r| format!("{:.2} ms", r.broadcast.p99_ms) },
    Column { header: "conflicts", cell: |r| r.conflicts.to_string() },
    Column { header: "errors", cell: |r| r.errors.to_string() },
    Column { header: "refused", cell: |r| r.refused.to_string() },
    Column { header: "skipped", cell: |r| r.skipped.to_string() },
    Column { header: "round trips/revision", cell: |r| optional(r.round_trips_per_revision, 3) },
    Column { header: "server CPU", cell: |r| format!("{:.2}", r.server.cpu_cores) },
    Column { header: "server RSS", cell: |r| format!("{:.0} MiB", r.server.rss_mib) },
    Column { header: "client CPU", cell: |r| format!("{:.2}", r.client_cpu_cores) },
];

/// The columns of `big`, shown when a run has REST reads.
const GET_COLUMNS: &[Column] = &[
    Column { header: "dialogue bytes", cell: |r| r.dialogue_bytes.map_or_else(|| "–".to_owned(), |b| b.to_string()) },
    Column { header: "GET p50", cell: |r| format!("{:.2} ms", r.get.p50_ms) },
    Column { header: "GET p99", cell: |r| format!("{:.2} ms", r.get.p99_ms) },
];

/// The columns of `cold`, shown when a run has cold loads.
const COLD_COLUMNS: &[Column] = &[
    Column { header: "cold loads", cell: |r| r.cold_load.count.to_string() },
    Column { header: "cold load p50", cell: |r| format!("{:.2} ms", r.cold_load.p50_ms) },
    Column { header: "cold load p99", cell: |r| format!("{:.2} ms", r.cold_load.p99_ms) },
    Column { header: "cold load max", cell: |r| format!("{:.2} ms", r.cold_load.max_ms) },
    Column { header: "round trips/load", cell: |r| optional(r.cold_load_round_trips, 1) },
];

/// The columns of `split`, shown when a run counted acks per server.
const BY_SERVER_COLUMNS: &[Column] = &[
    Column { header: "ack p50 by server", cell: |r| by_server(r, |ack| ack.p50_ms) },
    Column { header: "ack p99 by server", cell: |r| by_server(r, |ack| ack.p99_ms) },
];

/// A Markdown table of runs (with the `big`, `cold` and `split` columns when some run has them).
pub fn markdown(runs: &[RunResult]) -> String {
    let mut columns: Vec<&Column> = COLUMNS.iter().collect();
    if runs.iter().any(|r| r.get.count > 0) {
        columns.extend(GET_COLUMNS);
    }
    if runs.iter().any(|r| r.cold_load.count > 0) {
        columns.extend(COLD_COLUMNS);
    }
    if runs.iter().any(|r| !r.ack_by_server.is_empty()) {
        columns.extend(BY_SERVER_COLUMNS);
    }
    let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = row(columns.iter().map(|c| c.header.to_owned()).collect());
    out.push_str(&row(columns.iter().map(|_| "---".to_owned()).collect()).replace(' ', ""));
    for r in runs {
        out.push_str(&row(columns.iter().map(|c| (c.cell)(r)).collect()));
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
    let latency_label = runs.first().map_or("ack p99 (ms)", |run| headline_latency(run).1);
    let max_l = runs.iter().map(|r| headline_latency(r).0.p99_ms).fold(1.0, f64::max) * 1.1;
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
    chart.configure_secondary_axes().y_desc(latency_label).draw()?;
    let throughput_points: Vec<(usize, f64)> = runs.iter().enumerate().map(|(i, r)| (i, throughput(r).0)).collect();
    let latency_points: Vec<(usize, f64)> =
        runs.iter().enumerate().map(|(i, r)| (i, headline_latency(r).0.p99_ms)).collect();
    let blue = RGBColor(0x1f, 0x77, 0xb4);
    let red = RGBColor(0xd6, 0x27, 0x28);
    chart
        .draw_series(LineSeries::new(throughput_points.clone(), blue.stroke_width(2)))?
        .label(unit)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], blue));
    chart.draw_series(throughput_points.iter().map(|p| Circle::new(*p, 3, blue.filled())))?;
    chart
        .draw_secondary_series(LineSeries::new(latency_points.clone(), red.stroke_width(2)))?
        .label(latency_label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], red));
    chart.draw_secondary_series(latency_points.iter().map(|p| Circle::new(*p, 3, red.filled())))?;
    chart.configure_series_labels().background_style(WHITE).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

/// Ratios of `ours` to `theirs`, matched by scenario and client count.
pub fn compare(ours: &[RunResult], theirs: &[RunResult]) -> String {
    let mut out = String::from(
        "| scenario | clients | dialogue-server | ShareDB | throughput ratio | ack p99 (ours / theirs) | round trips/revision (ours / theirs) |\n|---|---|---|---|---|---|---|\n",
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
            "| {} | {} | {mine:.0} {unit} | {other:.0} {unit} | {ratio} | {:.2} ms / {:.2} ms | {} / {} |",
            run.scenario,
            run.clients,
            run.ack.p99_ms,
            peer.ack.p99_ms,
            optional(run.round_trips_per_revision, 3),
            optional(peer.round_trips_per_revision, 3),
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
            table.contains("| hot | 10 | 3000 revisions/s | 150 revisions/s | 20.0× | 4.00 ms / 275.00 ms | – / – |"),
            "{table}"
        );
        assert!(!table.contains("| 50 |"), "no peer run, no row");
    }

    #[test]
    fn round_trips_show_when_measured_and_scenario_columns_when_present() {
        let mut measured = run("dialogue-server", 10, 3000.0, 4.0);
        measured.round_trips_per_revision = Some(1.25);
        let peer = run("sharedb", 10, 150.0, 275.0);
        let table = markdown(&[measured.clone(), peer.clone()]);
        assert!(table.contains("| 1.250 |"), "{table}");
        assert!(table.contains("| – |"), "no metrics, no figure: {table}");
        assert!(!table.contains("GET p99") && !table.contains("cold load"), "{table}");
        assert!(summary_line(&measured).contains("round trips/revision 1.250"));
        assert!(summary_line(&peer).contains("round trips/revision –"));

        let mut big = run("dialogue-server", 2, 500.0, 8.0);
        big.scenario = "big".into();
        big.get = Latency { count: 10, p50_ms: 4.5, p99_ms: 9.75, ..Latency::default() };
        big.dialogue_bytes = Some(1 << 20);
        let table = markdown(&[big.clone()]);
        assert!(
            table.contains("| GET p50 | GET p99 |") && table.contains("| 1048576 | 4.50 ms | 9.75 ms |"),
            "{table}"
        );
        assert!(summary_line(&big).contains("GET p50 4.50 ms p99 9.75 ms"));

        let mut cold = run("dialogue-server", 100_000, 9000.0, 0.0);
        cold.scenario = "cold".into();
        cold.cold_load = Latency { count: 3, p50_ms: 40.0, p99_ms: 60.0, max_ms: 60.0, ..Latency::default() };
        cold.cold_load_round_trips = Some(4.0);
        let table = markdown(&[cold.clone()]);
        assert!(table.contains("| 3 | 40.00 ms | 60.00 ms | 60.00 ms | 4.0 |"), "{table}");
        assert_eq!(headline_latency(&cold).0.p99_ms, 60.0);
        let header_cells = table.lines().next().unwrap().matches('|').count();
        assert!(table.lines().all(|line| line.matches('|').count() == header_cells), "{table}");

        let mut split = run("dialogue-server", 50, 4000.0, 25.0);
        split.scenario = "split".into();
        split.ack_by_server = vec![
            Latency { p50_ms: 9.18, p99_ms: 21.84, ..Latency::default() },
            Latency { p50_ms: 12.82, p99_ms: 27.45, ..Latency::default() },
        ];
        let table = markdown(&[split.clone(), measured.clone()]);
        assert!(table.contains("| 9.18 / 12.82 ms | 21.84 / 27.45 ms |"), "{table}");
        assert!(table.contains("| – | – |"), "one server, no figures: {table}");
        assert!(summary_line(&split).contains("ack p50 by server 9.18 / 12.82 ms, p99 by server 21.84 / 27.45 ms"));
        assert!(!summary_line(&measured).contains("by server"));
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
