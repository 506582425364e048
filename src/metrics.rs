//! The Prometheus endpoint of `lanterne capture --metrics ADDR`.
//!
//! A small HTTP server thread answers `GET /metrics` with the text exposition
//! format (version 0.0.4). The analysis thread renders the text once a second
//! into a shared string; a scrape only copies it, so scraping never touches
//! the packet path.
//!
//! Counters only grow: the per-service series count flows when they end
//! (with their bytes), so a long flow shows in them at its end; open flows
//! are the `lanterne_flows_active` gauge. Series are created for the services
//! seen, not for the whole catalog. Per-host series (one per host × service
//! × direction) come only with `--metrics-per-host`.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::capture::Tick;

/// The text the endpoint serves, shared with the analysis thread.
#[derive(Clone, Default, Debug)]
pub struct Exposition(Arc<Mutex<String>>);

impl Exposition {
    pub fn set(&self, text: String) {
        if let Ok(mut t) = self.0.lock() {
            *t = text;
        }
    }

    fn get(&self) -> String {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// Starts serving on `addr` (e.g. `127.0.0.1:9477` or `[::]:9477`); the
/// server thread lives as long as the process.
pub fn serve(addr: &str) -> Result<(Exposition, std::net::SocketAddr), String> {
    let listener =
        TcpListener::bind(addr).map_err(|e| format!("--metrics {addr}: cannot listen: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("--metrics {addr}: {e}"))?;
    let expo = Exposition::default();
    let shared = expo.clone();
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            // A thread per connection, a few at most: a client that holds
            // its connection open does not block the scrapes.
            let busy = Arc::new(AtomicUsize::new(0));
            for conn in listener.incoming() {
                let Ok(conn) = conn else {
                    // (Out of descriptors, say: do not spin.)
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                };
                if busy.load(Ordering::Relaxed) >= MAX_CLIENTS {
                    continue; // dropped: closed
                }
                busy.fetch_add(1, Ordering::Relaxed);
                let (expo, mine) = (shared.clone(), Arc::clone(&busy));
                let spawned = std::thread::Builder::new()
                    .name("metrics-client".into())
                    .spawn(move || {
                        let _ = answer(conn, &expo);
                        mine.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    busy.fetch_sub(1, Ordering::Relaxed);
                }
            }
        })
        .map_err(|e| format!("--metrics: {e}"))?;
    Ok((expo, local))
}

/// Connections served at once.
const MAX_CLIENTS: usize = 8;
/// Time a client has to send its request head.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);

/// Answers one HTTP/1.x request.
fn answer(mut conn: TcpStream, expo: &Exposition) -> std::io::Result<()> {
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let deadline = Instant::now() + REQUEST_DEADLINE;
    // The request head: up to the blank line, at most 8 KiB, within the deadline.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        conn.set_read_timeout(Some(left))?;
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    let (status, ctype, body) = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            expo.get(),
        ),
        (b"GET" | b"HEAD", b"/") => (
            "200 OK",
            "text/html; charset=utf-8",
            "<html><body><a href=\"/metrics\">lanterne metrics</a></body></html>\n".to_string(),
        ),
        (b"GET" | b"HEAD", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != b"HEAD" {
        out.push_str(&body);
    }
    conn.write_all(out.as_bytes())
}

/// A label value, escaped as the exposition format wants.
fn label(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The process's resident memory (Linux: /proc/self/statm).
fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096))
}

/// Renders every series from a tick (whose `agg` holds the ended flows).
pub fn render(t: &Tick<'_>, per_host: bool) -> String {
    let (cat, sanctioned) = (t.catalog, t.sanctioned);
    let mut o = String::with_capacity(4096);
    let st = t.stats;
    family(
        &mut o,
        "lanterne_packets_total",
        "counter",
        "Frames analysed (duplicates not included).",
    );
    let _ = writeln!(o, "lanterne_packets_total {}", st.packets);
    family(
        &mut o,
        "lanterne_bytes_total",
        "counter",
        "Bytes of the frames analysed, as on the wire.",
    );
    let _ = writeln!(o, "lanterne_bytes_total {}", st.bytes);
    family(
        &mut o,
        "lanterne_drops_total",
        "counter",
        "Frames lost before the analysis (libpcap statistics).",
    );
    let _ = writeln!(
        o,
        "lanterne_drops_total{{source=\"kernel\"}} {}",
        t.drops.kernel
    );
    let _ = writeln!(
        o,
        "lanterne_drops_total{{source=\"interface\"}} {}",
        t.drops.interface
    );
    family(
        &mut o,
        "lanterne_received_total",
        "counter",
        "Frames the kernel filter passed to lanterne (libpcap statistics).",
    );
    let _ = writeln!(o, "lanterne_received_total {}", t.drops.received);
    family(
        &mut o,
        "lanterne_duplicates_total",
        "counter",
        "Frames dropped as copies from overlapping mirror sessions.",
    );
    let _ = writeln!(o, "lanterne_duplicates_total {}", st.duplicates);
    family(
        &mut o,
        "lanterne_interface_up",
        "gauge",
        "1 while the interface captures, 0 once its capture stopped on an error.",
    );
    for i in t.interfaces {
        let up = i.up.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "lanterne_interface_up{{interface=\"{}\"}} {}",
            label(&i.name),
            u8::from(up)
        );
    }
    family(
        &mut o,
        "lanterne_flows_active",
        "gauge",
        "Flows open in the flow table.",
    );
    let _ = writeln!(o, "lanterne_flows_active {}", t.active_flows);
    family(&mut o, "lanterne_flows_total", "counter", "Flows ended.");
    let _ = writeln!(o, "lanterne_flows_total {}", t.agg.flows_total);
    family(
        &mut o,
        "lanterne_evicted_flows_total",
        "counter",
        "Flows ended early because the flow table was full.",
    );
    let _ = writeln!(o, "lanterne_evicted_flows_total {}", st.evicted_flows);
    family(
        &mut o,
        "lanterne_limit_hits_total",
        "counter",
        "What the memory caps turned away: flows no longer inspected (reassembly), DNS names forgotten (dns_cache), QUIC connections not decrypted (quic_decrypt), flows of hosts not tracked one by one (hosts), fragmented datagrams given up (defrag), flows of candidate names not recorded (candidates).",
    );
    for (limit, n) in [
        ("reassembly", st.reassembly_dropped),
        ("dns_cache", st.dns_cache_evictions),
        ("quic_decrypt", st.quic_decryptions_skipped),
        ("hosts", t.agg.untracked_host_flows),
        ("defrag", st.defrag_dropped),
        ("candidates", t.agg.candidates_dropped),
    ] {
        let _ = writeln!(o, "lanterne_limit_hits_total{{limit=\"{limit}\"}} {n}");
    }
    family(
        &mut o,
        "lanterne_candidate_names",
        "gauge",
        "Names seen that match no catalog entry but look like generative-AI services (candidates, for review; not counted as AI).",
    );
    let _ = writeln!(o, "lanterne_candidate_names {}", t.agg.candidate_names());
    if let Some(ch) = t.agg.clickhouse_stats() {
        family(
            &mut o,
            "lanterne_clickhouse_rows_total",
            "counter",
            "Flow rows for ClickHouse: sent (first time or from the spool), spooled (ClickHouse did not take them then), lost (spool full).",
        );
        let g = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        for (state, n) in [
            ("sent", g(&ch.rows_sent)),
            ("spooled", g(&ch.rows_spooled)),
            ("lost", g(&ch.rows_lost)),
        ] {
            let _ = writeln!(o, "lanterne_clickhouse_rows_total{{state=\"{state}\"}} {n}");
        }
        family(
            &mut o,
            "lanterne_clickhouse_spool_rows",
            "gauge",
            "Flow rows waiting in the spool for ClickHouse.",
        );
        let _ = writeln!(o, "lanterne_clickhouse_spool_rows {}", g(&ch.rows_in_spool));
    }
    family(
        &mut o,
        "lanterne_max_memory_bytes",
        "gauge",
        "The memory budget (--max-memory).",
    );
    let _ = writeln!(o, "lanterne_max_memory_bytes {}", t.agg.limits().max_memory);
    if let Some(rss) = resident_bytes() {
        family(
            &mut o,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        let _ = writeln!(o, "process_resident_memory_bytes {rss}");
    }
    family(
        &mut o,
        "lanterne_undecodable_total",
        "counter",
        "Frames that could not be decoded, by reason.",
    );
    for r in crate::decode::REASONS {
        let n = st.undecodable.get(r).copied().unwrap_or(0);
        let _ = writeln!(o, "lanterne_undecodable_total{{reason=\"{r}\"}} {n}");
    }
    family(
        &mut o,
        "lanterne_service_flows_total",
        "counter",
        "Ended flows of internal hosts to each AI service.",
    );
    let mut bytes = String::new();
    for (sid, flows, up, down) in t.agg.service_totals() {
        let s = cat.service(sid);
        let _ = writeln!(
            o,
            "lanterne_service_flows_total{{service=\"{}\",vendor=\"{}\",category=\"{}\",sanctioned=\"{}\"}} {flows}",
            label(&s.id),
            label(&s.vendor),
            label(&s.category),
            sanctioned.contains(&s.id)
        );
        for (dir, n) in [("up", up), ("down", down)] {
            let _ = writeln!(
                bytes,
                "lanterne_service_bytes_total{{service=\"{}\",direction=\"{dir}\"}} {n}",
                label(&s.id)
            );
        }
    }
    family(
        &mut o,
        "lanterne_service_bytes_total",
        "counter",
        "IP bytes of those flows, up (host to service) and down.",
    );
    o.push_str(&bytes);
    if per_host {
        family(
            &mut o,
            "lanterne_host_service_flows_total",
            "counter",
            "Ended flows per internal host and AI service.",
        );
        let mut bytes = String::new();
        for (ip, sid, flows, up, down) in t.agg.host_service_totals() {
            let s = label(&cat.service(sid).id);
            let _ = writeln!(
                o,
                "lanterne_host_service_flows_total{{host=\"{ip}\",service=\"{s}\"}} {flows}"
            );
            for (dir, n) in [("up", up), ("down", down)] {
                let _ = writeln!(
                    bytes,
                    "lanterne_host_service_bytes_total{{host=\"{ip}\",service=\"{s}\",direction=\"{dir}\"}} {n}"
                );
            }
        }
        family(
            &mut o,
            "lanterne_host_service_bytes_total",
            "counter",
            "IP bytes per internal host and AI service.",
        );
        o.push_str(&bytes);
    }
    if let Some(h) = t.latency {
        family(
            &mut o,
            "lanterne_packet_latency_seconds",
            "summary",
            "Time to process one frame in the analysis.",
        );
        for q in [0.5, 0.9, 0.99, 0.999] {
            let v = h.value_at_quantile(q) as f64 / 1e9;
            let _ = writeln!(
                o,
                "lanterne_packet_latency_seconds{{quantile=\"{q}\"}} {v:e}"
            );
        }
        let _ = writeln!(
            o,
            "lanterne_packet_latency_seconds_sum {:e}",
            h.mean() * h.len() as f64 / 1e9
        );
        let _ = writeln!(o, "lanterne_packet_latency_seconds_count {}", h.len());
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signatures::Catalog;
    use std::collections::BTreeSet;

    /// Every series of `agg` (per host too), with no other counts.
    fn render_all(
        cat: &Catalog,
        agg: &crate::report::Aggregator,
        latency: Option<&hdrhistogram::Histogram<u64>>,
    ) -> String {
        let stats = crate::stats::Stats::default();
        let tick = Tick {
            catalog: cat,
            sanctioned: &BTreeSet::new(),
            agg,
            stats: &stats,
            drops: Default::default(),
            active_flows: 0,
            latency,
            interfaces: &[],
        };
        render(&tick, true)
    }

    /// Every series the shipped Grafana dashboard queries is one we export.
    #[test]
    fn grafana_dashboard_uses_exported_series() {
        let agg = crate::report::Aggregator::new(crate::report::AggOptions::default());
        let hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        let text = render_all(&Catalog::builtin(), &agg, Some(&hist));
        let exported: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        let dash: serde_json::Value =
            serde_json::from_str(include_str!("../contrib/grafana/lanterne-capture.json")).unwrap();
        let mut used = 0;
        for p in dash["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap();
                for (i, _) in expr.match_indices("lanterne_") {
                    let name: String = expr[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        exported.contains(name.as_str()),
                        "{name} in {expr:?} is not exported"
                    );
                    used += 1;
                }
            }
        }
        assert!(used >= 14, "{used}");
    }

    /// Candidates: their number, and the flows the cap turned away.
    #[test]
    fn candidate_series() {
        let cat = Catalog::builtin();
        let mut agg = crate::report::Aggregator::new(crate::report::AggOptions {
            candidate_bytes: 1,
            ..Default::default()
        });
        let rec = crate::testutil::flow_record("10.1.2.3", "newbot.ai", None, 0, 1, 1);
        crate::engine::FlowSink::flow_ended(&mut agg, rec, &cat);
        let text = render_all(&cat, &agg, None);
        assert!(text.contains("lanterne_candidate_names 0\n"), "{text}");
        assert!(text.contains("lanterne_limit_hits_total{limit=\"candidates\"} 1\n"));
        let mut agg = crate::report::Aggregator::new(Default::default());
        let rec = crate::testutil::flow_record("10.1.2.3", "newbot.ai", None, 0, 1, 1);
        crate::engine::FlowSink::flow_ended(&mut agg, rec, &cat);
        assert!(render_all(&cat, &agg, None).contains("lanterne_candidate_names 1\n"));
    }

    /// Per-host series show hosts as the outputs do: pseudonymised here.
    #[test]
    fn per_host_series_are_pseudonymized() {
        let cat = Catalog::builtin();
        let sid = cat.match_name("chatgpt.com").unwrap().service;
        let view =
            crate::privacy::HostView::new(Some(b"k"), None, crate::report::default_internal());
        let mut agg = crate::report::Aggregator::new(crate::report::AggOptions {
            view: view.clone(),
            ..Default::default()
        });
        let rec = crate::testutil::flow_record("10.1.2.3", "chatgpt.com", Some(sid), 0, 100, 200);
        crate::engine::FlowSink::flow_ended(&mut agg, rec, &cat);
        let text = render_all(&cat, &agg, None);
        let token = view.show("10.1.2.3".parse().unwrap());
        assert!(!text.contains("10.1.2.3"));
        assert!(text.contains(&format!(
            "lanterne_host_service_bytes_total{{host=\"{token}\",service=\"chatgpt\",direction=\"up\"}} 100"
        )), "{text}");
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label("x\ny"), "x\\ny");
    }

    #[test]
    fn serves_metrics_and_404() {
        let (expo, addr) = serve("127.0.0.1:0").unwrap();
        expo.set("lanterne_packets_total 7\n".into());
        let get = |path: &str| {
            let mut c = TcpStream::connect(addr).unwrap();
            write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).unwrap();
            s
        };
        let m = get("/metrics");
        assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
        assert!(m.contains("text/plain; version=0.0.4"), "{m}");
        assert!(m.ends_with("\r\n\r\nlanterne_packets_total 7\n"), "{m}");
        assert!(get("/other").starts_with("HTTP/1.1 404"));
        // A client that connects and sends nothing does not hold up a scrape.
        let _idle = TcpStream::connect(addr).unwrap();
        let t0 = Instant::now();
        assert!(get("/metrics").starts_with("HTTP/1.1 200"));
        assert!(t0.elapsed() < REQUEST_DEADLINE);
        assert!(serve(&addr.to_string())
            .unwrap_err()
            .contains("cannot listen"));
    }
}
