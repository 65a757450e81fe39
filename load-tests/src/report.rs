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

/// A two-axis line chart: throughput (left, blue) and ack p99 (right, red) against clients.
pub fn svg(title: &str, runs: &[RunResult]) -> String {
    let (width, height, left, right, top, bottom) = (720.0, 400.0, 80.0, 80.0, 50.0, 60.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let n = runs.len().max(1) as f64;
    let x = |i: usize| left + if n > 1.0 { plot_w * i as f64 / (n - 1.0) } else { plot_w / 2.0 };
    let max_t = runs.iter().map(|r| throughput(r).0).fold(1.0_f64, f64::max) * 1.1;
    let max_l = runs.iter().map(|r| r.ack.p99_ms).fold(1.0_f64, f64::max) * 1.1;
    let unit = runs.first().map_or("revisions/s", |r| throughput(r).1);
    let y = |value: f64, max: f64| top + plot_h * (1.0 - value / max);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"25\" text-anchor=\"middle\" font-size=\"15\">{title}</text>\n\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#1f77b4\"/>\n\
         <line x1=\"{}\" y1=\"{top}\" x2=\"{}\" y2=\"{}\" stroke=\"#d62728\"/>\n\
         <text x=\"20\" y=\"{}\" fill=\"#1f77b4\" transform=\"rotate(-90 20 {})\" text-anchor=\"middle\">{unit}</text>\n\
         <text x=\"{}\" y=\"{}\" fill=\"#d62728\" transform=\"rotate(90 {} {})\" text-anchor=\"middle\">ack p99 (ms)</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">clients</text>\n",
        width / 2.0,
        top + plot_h,
        left + plot_w,
        top + plot_h,
        top + plot_h,
        left + plot_w,
        left + plot_w,
        top + plot_h,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        width - 20.0,
        top + plot_h / 2.0,
        width - 20.0,
        top + plot_h / 2.0,
        left + plot_w / 2.0,
        height - 15.0,
    );
    for step in 0..=4 {
        let fraction = f64::from(step) / 4.0;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#1f77b4\">{:.0}</text>\
             <text x=\"{}\" y=\"{}\" fill=\"#d62728\">{:.1}</text>",
            left - 6.0,
            y(max_t * fraction, max_t) + 4.0,
            max_t * fraction,
            left + plot_w + 6.0,
            y(max_l * fraction, max_l) + 4.0,
            max_l * fraction,
        );
    }
    let mut throughput_points = String::new();
    let mut latency_points = String::new();
    for (i, run) in runs.iter().enumerate() {
        let _ = write!(throughput_points, "{:.1},{:.1} ", x(i), y(throughput(run).0, max_t));
        let _ = write!(latency_points, "{:.1},{:.1} ", x(i), y(run.ack.p99_ms, max_l));
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
             <circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f77b4\"/>\
             <circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#d62728\"/>",
            x(i),
            top + plot_h + 18.0,
            run.clients,
            x(i),
            y(throughput(run).0, max_t),
            x(i),
            y(run.ack.p99_ms, max_l),
        );
    }
    let _ =
        writeln!(out, "<polyline points=\"{throughput_points}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>");
    let _ = writeln!(
        out,
        "<polyline points=\"{latency_points}\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"5,3\"/>"
    );
    out.push_str("</svg>\n");
    out
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
        assert_eq!(chart.matches("<circle").count(), 4);
        assert_eq!(markdown(&runs).lines().count(), 4);
    }
}
