//! The day at a glance: the report as JSON, and a small self-contained HTML page with a
//! timeline (backlog, queue depth, auth rate) drawn as inline SVG, the outages shaded.

use std::fmt::Write as _;
use std::time::Duration;

use super::oracle::Verdict;
use super::{Incident, Options, Sample};

/// Real-time figures of the run.
#[derive(Debug, Clone)]
pub struct Timings {
    /// Start-up and the cloud's set-up commands.
    pub setup: Duration,
    /// The day itself.
    pub day: Duration,
    /// Draining after the day.
    pub settle: Duration,
    /// Everything.
    pub wall: Duration,
    /// From the restart after the power cut to the daemon's "running" line.
    pub restart_ready: Duration,
    /// Commands published by the cloud.
    pub commands_sent: u64,
}

/// The report as JSON.
pub fn json(
    options: &Options,
    verdict: &Verdict,
    samples: &[Sample],
    incidents: &[Incident],
    timings: &Timings,
) -> serde_json::Value {
    serde_json::json!({
        "scenario": "site day",
        "form": options.form,
        "seed": options.seed,
        "passed": verdict.breaches.is_empty(),
        "breaches": verdict.breaches,
        "simulated_hours": options.day.as_secs_f64() / 3600.0,
        "clock_speed": options.speed,
        "subscribers": options.subscribers + options.vouchers,
        "mpesa_subscribers": options.subscribers,
        "vouchers": options.vouchers,
        "real_seconds": {
            "setup": timings.setup.as_secs_f64(),
            "day": timings.day.as_secs_f64(),
            "settle": timings.settle.as_secs_f64(),
            "wall": timings.wall.as_secs_f64(),
            "restart_to_ready": timings.restart_ready.as_secs_f64(),
        },
        "commands_sent": timings.commands_sent,
        "figures": verdict.figures,
        "incidents": incidents,
        "timeline": samples,
    })
}

/// A one-line summary per figure, for the terminal.
pub fn text(report: &serde_json::Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "site scenario ({} form, seed {}): {} simulated hours at {}x, {} subscribers — {}",
        report["form"].as_str().unwrap_or("?"),
        report["seed"],
        report["simulated_hours"],
        report["clock_speed"],
        report["subscribers"],
        if report["passed"].as_bool() == Some(true) {
            "PASSED"
        } else {
            "FAILED"
        }
    );
    let _ = writeln!(out, "  real seconds: {}", report["real_seconds"]);
    if let Some(figures) = report["figures"].as_object() {
        for (name, value) in figures {
            let _ = writeln!(out, "  {name}: {value}");
        }
    }
    if let Some(incidents) = report["incidents"].as_array() {
        for incident in incidents {
            let _ = writeln!(
                out,
                "  incident: {} from minute {:.0} to {:.0}",
                incident["what"].as_str().unwrap_or("?"),
                incident["from_minute"].as_f64().unwrap_or(0.0),
                incident["to_minute"].as_f64().unwrap_or(0.0)
            );
        }
    }
    if let Some(breaches) = report["breaches"].as_array() {
        for breach in breaches {
            let _ = writeln!(out, "  BREACH: {}", breach.as_str().unwrap_or("?"));
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const WIDTH: f64 = 760.0;
const SHADES: [&str; 3] = ["#f7b9b9", "#e2e8fd", "#fdf3d8"];
const HEIGHT: f64 = 120.0;
const LEFT: f64 = 60.0;

/// One line chart of `series` over the day, the incidents shaded behind it.
fn chart(
    title: &str,
    color: &str,
    points: &[(f64, f64)],
    incidents: &[(f64, f64, String)],
    day_minutes: f64,
) -> String {
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1.0);
    let x = |minute: f64| LEFT + minute / day_minutes.max(1.0) * (WIDTH - LEFT - 10.0);
    let y = |value: f64| 10.0 + (1.0 - value / max) * (HEIGHT - 30.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{t}">"#,
        t = escape(title)
    );
    // Widest first, so a short outage inside a long one stays visible.
    let mut bands: Vec<(usize, &(f64, f64, String))> = incidents.iter().enumerate().collect();
    bands.sort_by(|a, b| (b.1.1 - b.1.0).total_cmp(&(a.1.1 - a.1.0)));
    for (i, (from, to, what)) in bands {
        let shade = SHADES[i % SHADES.len()];
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="10" width="{:.1}" height="{:.1}" fill="{shade}"><title>{}</title></rect>"#,
            x(*from),
            (x(*to) - x(*from)).max(3.0),
            HEIGHT - 30.0,
            escape(what)
        );
    }
    let line: Vec<String> = points
        .iter()
        .map(|(m, v)| format!("{:.1},{:.1}", x(*m), y(*v)))
        .collect();
    let _ = write!(
        svg,
        r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
        line.join(" ")
    );
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{b:.1}" x2="{r:.1}" y2="{b:.1}" stroke="#888"/><text x="4" y="16" font-size="11">{max:.0}</text><text x="4" y="{b:.1}" font-size="11">0</text><text x="{LEFT}" y="{t:.1}" font-size="11">{title}</text><text x="{r2:.1}" y="{t:.1}" font-size="11" text-anchor="end">{hours:.1} h</text></svg>"##,
        b = HEIGHT - 20.0,
        r = WIDTH - 10.0,
        t = HEIGHT - 5.0,
        r2 = WIDTH - 10.0,
        title = escape(title),
        hours = day_minutes / 60.0,
    );
    svg
}

/// The HTML page (no external assets).
pub fn html(report: &serde_json::Value) -> String {
    let empty = Vec::new();
    let timeline = report["timeline"].as_array().unwrap_or(&empty);
    let series = |key: &str| -> Vec<(f64, f64)> {
        timeline
            .iter()
            .filter_map(|s| Some((s["minute"].as_f64()?, s[key].as_f64()?.max(0.0))))
            .collect()
    };
    let incidents: Vec<(f64, f64, String)> = report["incidents"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .filter_map(|i| {
            Some((
                i["from_minute"].as_f64()?,
                i["to_minute"].as_f64()?,
                i["what"].as_str()?.to_string(),
            ))
        })
        .collect();
    let day_minutes = report["simulated_hours"].as_f64().unwrap_or(0.0) * 60.0;
    let passed = report["passed"].as_bool() == Some(true);
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sitebox site scenario</title>\
         <style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:800px}}td{{padding:2px 10px}}\
         .ok{{color:#176b1f}}.bad{{color:#a8151a}}.legend span{{padding:2px 6px;margin-right:6px}}</style></head><body>\
         <h1>Site scenario: <span class=\"{}\">{}</span></h1><p>{} form, seed <code>{}</code>, {} simulated hours at {}x, {} subscribers.</p>",
        if passed { "ok" } else { "bad" },
        if passed { "passed" } else { "FAILED" },
        escape(report["form"].as_str().unwrap_or("?")),
        report["seed"],
        report["simulated_hours"],
        report["clock_speed"],
        report["subscribers"],
    );
    if let Some(breaches) = report["breaches"].as_array().filter(|b| !b.is_empty()) {
        page.push_str("<h2>Breaches</h2><ul class=\"bad\">");
        for breach in breaches {
            let _ = write!(page, "<li>{}</li>", escape(breach.as_str().unwrap_or("?")));
        }
        page.push_str("</ul>");
    }
    page.push_str("<h2>Timeline</h2><p class=\"legend\">");
    for (i, (_, _, what)) in incidents.iter().enumerate() {
        let shade = SHADES[i % SHADES.len()];
        let _ = write!(
            page,
            "<span style=\"background:{shade}\">{}</span>",
            escape(what)
        );
    }
    page.push_str("</p>");
    page.push_str(&chart(
        "sync backlog (events not acked by the cloud)",
        "#a8151a",
        &series("backlog"),
        &incidents,
        day_minutes,
    ));
    page.push_str(&chart(
        "queue depth (jobs due or running)",
        "#1f4fa8",
        &series("queue_depth"),
        &incidents,
        day_minutes,
    ));
    page.push_str(&chart(
        "Access-Requests answered per simulated minute",
        "#176b1f",
        &series("auth_per_min"),
        &incidents,
        day_minutes,
    ));
    page.push_str(&chart(
        "sessions online",
        "#6b4f17",
        &series("online"),
        &incidents,
        day_minutes,
    ));
    page.push_str("<h2>Figures</h2><table>");
    if let Some(figures) = report["figures"].as_object() {
        for (name, value) in figures {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(name),
                escape(&value.to_string())
            );
        }
    }
    let _ = writeln!(
        page,
        "<tr><td>real seconds</td><td>{}</td></tr></table></body></html>",
        escape(&report["real_seconds"].to_string())
    );
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> serde_json::Value {
        serde_json::json!({
            "form": "short", "seed": 7, "passed": false, "simulated_hours": 2.0, "clock_speed": 240.0,
            "subscribers": 10, "breaches": ["a <script> in a name"],
            "figures": { "storm_p99_ms": 12.5 },
            "incidents": [
                { "what": "uplink down", "from_minute": 10.0, "to_minute": 70.0 },
                { "what": "power cut", "from_minute": 30.0, "to_minute": 35.0 },
            ],
            "timeline": [
                { "minute": 0.0, "backlog": 0, "queue_depth": 1, "auth_per_min": 2.0, "online": 3 },
                { "minute": 60.0, "backlog": 40, "queue_depth": 5, "auth_per_min": 8.0, "online": 9 },
                { "minute": 120.0, "backlog": 0, "queue_depth": 0, "auth_per_min": 1.0, "online": 0 },
            ],
            "real_seconds": { "wall": 1.0 },
        })
    }

    #[test]
    fn the_page_has_four_charts_escapes_text_and_loads_nothing() {
        let page = html(&report());
        assert_eq!(page.matches("<svg").count(), 4);
        assert_eq!(page.matches("<polyline").count(), 4);
        assert!(page.contains("a &lt;script&gt; in a name"), "{page}");
        assert!(!page.contains("<script"), "{page}");
        assert!(
            !page.contains("src=") && !page.contains("href="),
            "no external assets"
        );
        assert!(page.contains("FAILED"));
    }

    #[test]
    fn a_short_outage_inside_a_long_one_is_drawn_over_it() {
        let page = html(&report());
        let chart = &page[page.find("<svg").expect("a chart")..];
        let long = chart
            .find("<title>uplink down</title>")
            .expect("uplink band");
        let short = chart.find("<title>power cut</title>").expect("power band");
        assert!(long < short, "the wider band first");
    }

    #[test]
    fn the_summary_names_every_breach() {
        let text = text(&report());
        assert!(text.contains("FAILED"), "{text}");
        assert!(text.contains("BREACH: a <script> in a name"), "{text}");
        assert!(text.contains("storm_p99_ms: 12.5"), "{text}");
    }
}
