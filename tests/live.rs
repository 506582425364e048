//! Live capture on real interfaces: veth pairs whose far ends live in a
//! network namespace, traffic replayed into them with tcpreplay at top speed
//! while `lanterne capture` listens on the near ends, stopped with SIGTERM,
//! and compared with `lanterne read` on the same files.
//!
//! These tests need root, iproute2 and tcpreplay (`.ci/run` installs them and
//! runs as root). Elsewhere each test prints a line starting with "SKIPPED"
//! and passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Veth pairs: the `near` ends in this namespace (where lanterne captures),
/// the `far` ends in namespace `ns` (where tcpreplay sends). Removed on drop.
struct Veths {
    ns: String,
    near: Vec<String>,
    far: Vec<String>,
    /// One live test at a time: replays at top speed side by side on two
    /// cores would measure each other.
    _serial: std::sync::MutexGuard<'static, ()>,
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Drop for Veths {
    fn drop(&mut self) {
        for n in &self.near {
            let _ = Command::new("ip").args(["link", "del", n]).output();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

fn sh(args: &[&str]) -> Result<(), String> {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Says why a live test cannot run here: a SKIPPED line, or a failure when
/// `LANTERNE_LIVE_TESTS=1` (set by `.ci/run`) says they must run.
fn skip(why: &str) -> Option<Veths> {
    if std::env::var("LANTERNE_LIVE_TESTS").is_ok_and(|v| v == "1") {
        panic!("LANTERNE_LIVE_TESTS=1 but {why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// A namespace and `n` veth pairs named after `tag`, or None (with a
/// SKIPPED line) where this machine cannot make them.
fn veths(tag: &str, n: usize) -> Option<Veths> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("live capture tests need root (network namespaces, raw sockets)");
    }
    for tool in ["ip", "tcpreplay", "tcpprep"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return skip(&format!("{tool} is not installed"));
        }
    }
    let id = std::process::id() % 100_000;
    let v = Veths {
        ns: format!("lnt-{tag}-{id}"),
        near: (0..n).map(|i| format!("ln{tag}{i}-{id}")).collect(),
        far: (0..n).map(|i| format!("lf{tag}{i}-{id}")).collect(),
        _serial: SERIAL.lock().unwrap_or_else(|p| p.into_inner()),
    };
    let setup = || -> Result<(), String> {
        // Leftovers of an earlier run that had the same process id.
        let _ = sh(&["ip", "netns", "del", &v.ns]);
        for near in &v.near {
            let _ = sh(&["ip", "link", "del", near]);
        }
        sh(&["ip", "netns", "add", &v.ns])?;
        for (near, far) in v.near.iter().zip(&v.far) {
            sh(&[
                "ip", "link", "add", near, "type", "veth", "peer", "name", far,
            ])?;
            sh(&["ip", "link", "set", far, "netns", &v.ns])?;
            // No IPv6 on either end: the kernel would send its own router
            // and neighbour solicitations, which are not in the replayed files.
            let off = |i: &str| format!("net.ipv6.conf.{i}.disable_ipv6=1");
            let _ = sh(&["sysctl", "-qw", &off(near)]);
            let _ = sh(&["ip", "netns", "exec", &v.ns, "sysctl", "-qw", &off(far)]);
            sh(&["ip", "link", "set", near, "mtu", "9000", "up"])?;
            sh(&["ip", "-n", &v.ns, "link", "set", far, "mtu", "9000", "up"])?;
        }
        Ok(())
    };
    match setup() {
        Ok(()) => Some(v),
        Err(e) => skip(&format!("cannot set up veth pairs in a namespace: {e}")),
    }
}

/// `lanterne capture` on `ifaces`, writing a snapshot every 0.2 s to `json`.
fn start_capture(ifaces: &[&str], json: &Path, extra: &[&str]) -> Child {
    let mut cmd = Command::new(bin());
    cmd.arg("capture");
    for i in ifaces {
        cmd.args(["-i", i]);
    }
    cmd.args(["-q", "--json", json.to_str().unwrap(), "--interval", "0.2"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start lanterne capture");
    // The first snapshot means the interfaces are open and the capture runs.
    if !wait_until(Duration::from_secs(20), || json.exists()) {
        let _ = child.kill();
        let o = child.wait_with_output().expect("capture output");
        panic!(
            "no snapshot from the capture: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    child
}

fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Replays `pcaps` from the namespace end of `v`'s first pair at top speed
/// (`extra`: more tcpreplay options); returns the packets tcpreplay sent (on
/// every interface) and its rate line.
fn replay(v: &Veths, pcaps: &[&Path], extra: &[&str]) -> (u64, String) {
    let mut args = vec!["netns", "exec", &v.ns, "tcpreplay", "-i", &v.far[0]];
    // (At top speed unless `extra` sets a rate.)
    if !extra
        .iter()
        .any(|o| ["--pps", "--mbps", "--multiplier"].contains(o))
    {
        args.push("--topspeed");
    }
    args.extend_from_slice(extra);
    let paths: Vec<String> = pcaps.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let o = Command::new("ip")
        .args(&args)
        .output()
        .expect("run tcpreplay");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "tcpreplay failed: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // (One "Successful packets" line per interface.)
    let sent = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Successful packets:"))
        .map(|n| n.trim().parse::<u64>().expect("tcpreplay's packet count"))
        .sum();
    let rate = out
        .lines()
        .find(|l| l.contains("pps"))
        .unwrap_or_default()
        .trim()
        .to_string();
    (sent, rate)
}

/// Waits for the snapshots to show `packets` analysed frames (plus
/// duplicates), then stops the capture with `signal`; returns the final
/// summary.
fn stop_capture(mut child: Child, json: &Path, packets: u64, signal: libc::c_int) -> Value {
    let seen = |j: &Value| {
        j["capture"]["packets"].as_u64().unwrap_or(0)
            + j["capture"]["duplicates"].as_u64().unwrap_or(0)
    };
    wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(json)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|j| seen(&j) >= packets)
    });
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for lanterne") {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "capture did not stop on signal {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert_eq!(status.code(), Some(0), "capture exit status; stderr: {err}");
    read_json(json)
}

/// `keys` of each element of the array `a`, as one array per element.
fn pick(a: &Value, keys: &[&str], inner: Option<&dyn Fn(&Value) -> Value>) -> Vec<Value> {
    a.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let mut v: Vec<Value> = keys.iter().map(|k| x[*k].clone()).collect();
            if let Some(f) = inner {
                v.push(f(x));
            }
            Value::Array(v)
        })
        .collect()
}

/// What must be equal between a live capture and a read of the same file:
/// totals, visibility, and per service and per host the flows and bytes.
fn comparable(s: &Value) -> Value {
    let c = &s["capture"];
    let host_services = |h: &Value| {
        let keys = ["id", "flows", "bytes_up", "bytes_down", "names"];
        Value::Array(pick(&h["services"], &keys, None))
    };
    serde_json::json!({
        "packets": c["packets"], "bytes": c["bytes"], "flows": c["flows"],
        "flows_external": c["flows_external"], "non_ip": c["non_ip_packets"],
        "undecodable": c["undecodable"], "visibility": s["visibility"],
        "services": pick(&s["services"], &["id", "hosts", "flows", "bytes_up", "bytes_down", "via"], None),
        "hosts": pick(&s["hosts"], &["host", "flows", "bytes_up", "bytes_down"], Some(&host_services)),
    })
}

fn assert_no_drops(live: &Value) {
    let d = &live["capture"]["drops"];
    assert_eq!(d["kernel"], 0, "kernel drops");
    assert_eq!(d["interface"], 0, "interface drops");
}

/// Generated traffic with everything the analysis looks at (IPv6, split
/// ClientHellos and QUIC Initials, ECH, names only DNS gives, CNAME chains,
/// DoH), over 20 s of capture time so that top-speed replay does not change
/// which flows time out or which DNS answers are still valid.
fn traffic(dir: &Path) -> Option<PathBuf> {
    generate(
        dir,
        "live.pcap",
        &[
            "--flows",
            "1500",
            "--seed",
            "11",
            "--duration",
            "20",
            "--modern",
        ],
    )
}

#[test]
fn live_capture_equals_read_at_top_speed() {
    let Some(v) = veths("a", 1) else { return };
    let dir = scratch("live-equal");
    let Some(pcap) = traffic(&dir) else { return };
    let chatgpt = data("corpus/pcap/ai__chatgpt-browser_frames-0001-0500.pcapng");
    // Mirror encapsulations are looked through live as in files.
    let tunnels: Vec<PathBuf> = [
        "ndpi__vxlan.pcap",
        "sv__decode-erspan-typeI-02__input.pcap",
        "ndpi__4in6tunnel.pcap",
        "ndpi__capwap_data.pcapng",
    ]
    .iter()
    .map(|f| data(&format!("corpus/pcap/{f}")))
    .collect();
    let tunnels: Vec<&Path> = tunnels.iter().map(PathBuf::as_path).collect();
    for (name, files, services) in [
        ("generated", vec![pcap.as_path()], 8),
        ("chatgpt", vec![chatgpt.as_path()], 1),
        ("tunnels", tunnels, 0),
    ] {
        let json = dir.join(format!("live-{name}.json"));
        // No duplicate detection here: at top speed the file's own TCP
        // retransmissions (exact copies, seconds apart in capture time) come
        // microseconds apart, as copies from two mirror sessions would.
        let child = start_capture(&[&v.near[0]], &json, &["--dedup-ms", "0"]);
        let (sent, rate) = replay(&v, &files, &[]);
        let live = stop_capture(child, &json, sent, libc::SIGTERM);
        eprintln!("{name}: replayed {sent} packets, {rate}");
        let read = summary_of(&files, &["--threads", "1"], &dir, "read");
        if name == "tunnels" {
            assert_eq!(live["capture"]["tunneled_packets"].as_u64(), Some(sent));
        }
        assert_eq!(
            live["capture"]["packets"].as_u64(),
            Some(sent),
            "{name}: packets"
        );
        assert_eq!(
            comparable(&live),
            comparable(&read),
            "{name}: live differs from read"
        );
        assert!(
            read["services"].as_array().unwrap().len() >= services,
            "{name}: services found"
        );
        assert_no_drops(&live);
        assert_eq!(live["capture"]["duplicates"], 0, "{name}: duplicates");
        assert_eq!(
            live["inputs"],
            serde_json::json!([format!("live:{}", v.near[0])])
        );
    }
}

/// Plain generated traffic (no retransmissions, which at top speed would
/// look like mirror duplicates).
fn plain_traffic(dir: &Path) -> Option<PathBuf> {
    generate(
        dir,
        "plain.pcap",
        &["--flows", "1500", "--seed", "12", "--duration", "20"],
    )
}

/// Both directions of a TAP on two ports: client-to-server frames on one
/// interface, server-to-client on the other, merged into one flow table.
#[test]
fn tap_directions_on_two_interfaces_meet_in_one_flow_table() {
    let Some(v) = veths("t", 2) else { return };
    let dir = scratch("live-tap");
    let Some(pcap) = plain_traffic(&dir) else {
        return;
    };
    let cache = dir.join("split.cache");
    sh(&[
        "tcpprep",
        "--auto=client",
        "--pcap",
        pcap.to_str().unwrap(),
        "--cachefile",
        cache.to_str().unwrap(),
    ])
    .expect("tcpprep");
    let json = dir.join("live.json");
    let child = start_capture(&[&v.near[0], &v.near[1]], &json, &[]);
    let (sent, rate) = replay(
        &v,
        &[&pcap],
        &["-c", cache.to_str().unwrap(), "-I", &v.far[1]],
    );
    let live = stop_capture(child, &json, sent, libc::SIGINT);
    eprintln!("two interfaces: replayed {sent} packets, {rate}");
    let read = summary_of(&[&pcap], &["--threads", "1"], &dir, "read");
    assert_eq!(comparable(&live), comparable(&read));
    assert_no_drops(&live);
    assert_eq!(live["capture"]["duplicates"], 0);
}

/// Two overlapping mirror sessions: every frame the namespace sends is also
/// copied by the kernel (tc mirred) to a second interface, microseconds
/// later. Capturing both counts each packet once, and the copies apart.
#[test]
fn mirror_duplicates_are_counted_once() {
    let Some(v) = veths("d", 2) else { return };
    let dir = scratch("live-dedup");
    let Some(pcap) = plain_traffic(&dir) else {
        return;
    };
    // The `bpf` classifier with "accept all" (matchall is not in every kernel).
    let mirror = sh(&["tc", "qdisc", "add", "dev", &v.near[0], "ingress"]).and_then(|_| {
        sh(&[
            "tc",
            "filter",
            "add",
            "dev",
            &v.near[0],
            "parent",
            "ffff:",
            "protocol",
            "all",
            "bpf",
            "bytecode",
            "1,6 0 0 4294967295",
            "action",
            "mirred",
            "egress",
            "mirror",
            "dev",
            &v.near[1],
        ])
    });
    if let Err(e) = mirror {
        eprintln!("SKIPPED: cannot mirror with tc: {e}");
        return;
    }
    let json = dir.join("live.json");
    let child = start_capture(&[&v.near[0], &v.near[1]], &json, &[]);
    let (sent, rate) = replay(&v, &[&pcap], &[]);
    let live = stop_capture(child, &json, 2 * sent, libc::SIGTERM);
    eprintln!("mirrored: replayed {sent} packets twice, {rate}");
    let read = summary_of(&[&pcap], &["--threads", "1"], &dir, "read");
    assert_eq!(live["capture"]["duplicates"].as_u64(), Some(sent));
    assert_eq!(comparable(&live), comparable(&read));
    assert_no_drops(&live);
}

/// `--count` and `--duration` end a capture by themselves, with the same
/// outputs as a signal.
#[test]
fn count_and_duration_stop_the_capture() {
    let Some(v) = veths("c", 1) else { return };
    let dir = scratch("live-count");
    let Some(pcap) = plain_traffic(&dir) else {
        return;
    };
    let json = dir.join("count.json");
    let child = start_capture(&[&v.near[0]], &json, &["--count", "1000"]);
    replay(&v, &[&pcap], &[]);
    let o = child.wait_with_output().expect("capture ends by itself");
    assert_exit(&o, 0);
    assert_eq!(read_json(&json)["capture"]["packets"], 1000);

    let json = dir.join("duration.json");
    let t0 = Instant::now();
    let o = run(&[
        "capture",
        "-i",
        &v.near[0],
        "-q",
        "--duration",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert_eq!(read_json(&json)["capture"]["packets"], 0);
}

/// Unknown interface, bad filter, no permission, and an interface that goes
/// away during the capture: one clear line each; the counts so far are kept.
#[test]
fn capture_errors_are_clear_and_keep_the_counts() {
    let Some(v) = veths("e", 1) else { return };
    let dir = scratch("live-errors");
    let err = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();

    let o = run(&["capture", "-i", "no-such-if0", "-q"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("no-such-if0: no such interface (available: "),
        "{}",
        err(&o)
    );
    assert!(err(&o).contains(&v.near[0]), "{}", err(&o));

    let o = run(&["capture", "-i", &v.near[0], "-q", "--bpf", "port nonsense"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("--bpf \"port nonsense\""), "{}", err(&o));

    // As an unprivileged user (setpriv from util-linux).
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(bin())
        .args(["capture", "-i", &v.near[0], "-q", "--duration", "1"])
        .output();
    match o {
        Ok(o) if o.status.code() == Some(1) => {
            assert!(
                err(&o).contains("setcap cap_net_raw,cap_net_admin+eip"),
                "{}",
                err(&o)
            );
        }
        Ok(o) => panic!("unprivileged capture: {:?} {}", o.status, err(&o)),
        Err(e) => eprintln!("SKIPPED (permission part): setpriv: {e}"),
    }

    // The interface disappears: the capture reports it and ends with what it
    // counted (exit 1, as for a file that could not be read to the end).
    let Some(pcap) = plain_traffic(&dir) else {
        return;
    };
    let json = dir.join("gone.json");
    let child = start_capture(&[&v.near[0]], &json, &[]);
    let (sent, _) = replay(&v, &[&pcap], &[]);
    wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&json)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|j| j["capture"]["packets"].as_u64() == Some(sent))
    });
    sh(&["ip", "link", "del", &v.near[0]]).expect("remove the interface");
    let o = child.wait_with_output().expect("capture ends");
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("capture stopped"), "{}", err(&o));
    assert_eq!(read_json(&json)["capture"]["packets"].as_u64(), Some(sent));
}

/// A free TCP port on the loopback (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// GET `path` from 127.0.0.1:`port`; the body, if the answer is 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(c, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut s = String::new();
    c.read_to_string(&mut s).ok()?;
    let (head, body) = s.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_string()))
}

/// The value of an instant query through Prometheus' HTTP API.
fn prom_query(port: u16, query: &str) -> Option<f64> {
    let enc: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = http_get(port, &format!("/api/v1/query?query={enc}"))?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// A real Prometheus server scrapes `capture --metrics` during a replay; its
/// query API then gives the service counters of the summary.
#[test]
fn prometheus_scrapes_the_service_counters() {
    let Some(v) = veths("p", 1) else { return };
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: prometheus is not installed");
        return;
    }
    let dir = scratch("live-prometheus");
    let Some(pcap) = plain_traffic(&dir) else {
        return;
    };
    let (mport, pport) = (free_port(), free_port());
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: lanterne\n    static_configs:\n      - targets: ['127.0.0.1:{mport}']\n"
        ),
    )
    .unwrap();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prom = Kill(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{pport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    assert!(
        wait_until(Duration::from_secs(60), || http_get(pport, "/-/ready")
            .is_some()),
        "prometheus did not become ready"
    );
    // Short timeouts: the service counters count flows when they end, and
    // the replay squeezes the file's 20 s into a fraction of a second.
    let json = dir.join("live.json");
    let metrics = format!("127.0.0.1:{mport}");
    let child = start_capture(
        &[&v.near[0]],
        &json,
        &[
            "--metrics",
            &metrics,
            "--tcp-timeout",
            "2",
            "--udp-timeout",
            "2",
        ],
    );
    let (sent, _) = replay(&v, &[&pcap], &[]);
    let read = summary_of(&[&pcap], &["--threads", "1"], &dir, "read");
    let top = &read["services"][0];
    let id = top["id"].as_str().unwrap();
    let want = top["flows"].as_f64().unwrap();
    let up = top["bytes_up"].as_f64().unwrap();
    let q_flows = format!("lanterne_service_flows_total{{service=\"{id}\"}}");
    let q_up = format!("lanterne_service_bytes_total{{service=\"{id}\",direction=\"up\"}}");
    let ok = wait_until(Duration::from_secs(60), || {
        prom_query(pport, &q_flows) == Some(want)
    });
    assert!(
        ok,
        "Prometheus has {q_flows} = {:?}, want {want}",
        prom_query(pport, &q_flows)
    );
    assert_eq!(prom_query(pport, &q_up), Some(up));
    assert_eq!(
        prom_query(pport, "lanterne_packets_total"),
        Some(sent as f64)
    );
    assert_eq!(prom_query(pport, "sum(lanterne_drops_total)"), Some(0.0));
    assert!(
        prom_query(pport, "lanterne_packet_latency_seconds{quantile=\"0.99\"}")
            .is_some_and(|x| x > 0.0)
    );
    let live = stop_capture(child, &json, sent, libc::SIGTERM);
    assert_eq!(live["services"][0]["id"], top["id"]);
    assert_eq!(live["services"][0]["flows"], top["flows"]);
}

/// Reads a snapshot (None while it is being replaced or not yet written).
fn snapshot(json: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(json).ok()?).ok()
}

fn service<'a>(s: &'a Value, id: &str) -> Option<&'a Value> {
    s["services"].as_array()?.iter().find(|x| x["id"] == id)
}

/// SIGHUP reloads the catalog and the policy without resetting the counts:
/// a newly sanctioned service shows as sanctioned with its flows so far, a
/// service whose signature file was removed keeps its counts (and matches
/// nothing new), and flows that end after the reload are classified with the
/// new catalog.
#[test]
fn sighup_reloads_catalog_and_policy_and_keeps_counts() {
    let Some(v) = veths("h", 1) else { return };
    let dir = scratch("live-reload");
    let Some(pcap) = plain_traffic(&dir) else {
        return;
    };
    let sigs = dir.join("signatures");
    std::fs::create_dir_all(&sigs).unwrap();
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("signatures")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&p, sigs.join(p.file_name().unwrap())).unwrap();
        }
    }
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "sanctioned = []\n").unwrap();
    let json = dir.join("live.json");
    let events = dir.join("events.ndjson");
    // Short timeouts, so that every flow of the first replay has ended
    // before the second one starts (its UDP flows would go on otherwise).
    let child = start_capture(
        &[&v.near[0]],
        &json,
        &[
            "--signatures",
            sigs.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
            "--events-all",
            "--tcp-timeout",
            "1",
            "--udp-timeout",
            "1",
            // Periods too: the one open at the reload holds counts under the
            // old catalog's indexes, which must move with the run's.
            "--hourly",
            "--rotate-seconds",
            "3",
        ],
    );
    let (sent, _) = replay(&v, &[&pcap], &[]);
    wait_until(Duration::from_secs(20), || {
        snapshot(&json).is_some_and(|j| j["capture"]["packets"].as_u64() == Some(sent))
    });
    // Flows are classified when they end, with the catalog of that moment:
    // let every flow end first (1 s timeouts, closed TCP lingers 5 s, the
    // engine's clock follows the wall clock 2 s behind). Ended flows reach
    // the events file while the capture runs: when it has a line for every
    // flow, they have all ended.
    let all_ended = wait_until(Duration::from_secs(60), || {
        let flows = snapshot(&json).and_then(|j| j["capture"]["flows"].as_u64());
        let lines = std::fs::read_to_string(&events).map_or(0, |t| t.lines().count() as u64);
        flows == Some(lines)
    });
    assert!(all_ended, "the first replay's flows did not all end");
    let before = snapshot(&json).unwrap();
    let chatgpt = service(&before, "chatgpt")
        .expect("chatgpt in the traffic")
        .clone();
    let claude = service(&before, "claude")
        .expect("claude in the traffic")
        .clone();
    assert_eq!(chatgpt["sanctioned"], false);

    std::fs::write(&policy, "sanctioned = [\"chatgpt\"]\n").unwrap();
    std::fs::remove_file(sigs.join("anthropic.toml")).unwrap();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGHUP) };
    let reloaded = wait_until(Duration::from_secs(20), || {
        snapshot(&json)
            .and_then(|j| service(&j, "chatgpt").map(|s| s["sanctioned"] == true))
            .unwrap_or(false)
    });
    assert!(reloaded, "the snapshot never showed the new policy");
    let after = snapshot(&json).unwrap();
    for (id, then) in [("chatgpt", &chatgpt), ("claude", &claude)] {
        let now = service(&after, id).unwrap();
        assert_eq!(
            (&now["flows"], &now["bytes_up"]),
            (&then["flows"], &then["bytes_up"]),
            "{id}"
        );
    }
    assert_eq!(after["capture"]["packets"], before["capture"]["packets"]);

    let (again, _) = replay(&v, &[&pcap], &[]);
    let live = stop_capture(child, &json, sent + again, libc::SIGTERM);
    let c = service(&live, "chatgpt").unwrap();
    assert_eq!(c["sanctioned"], true);
    assert_eq!(
        c["flows"].as_u64(),
        chatgpt["flows"].as_u64().map(|f| 2 * f)
    );
    // Anthropic's file is gone: Claude keeps its first-replay counts, the
    // second replay's Claude flows match nothing.
    let cl = service(&live, "claude").unwrap();
    assert_eq!(cl["flows"], claude["flows"]);
    assert_eq!(cl["bytes_up"], claude["bytes_up"]);
    let periods: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("live.20")
        })
        .map(|p| read_json(&p))
        .collect();
    assert!(periods.len() >= 2);
    for id in ["chatgpt", "claude"] {
        let sum: u64 = periods
            .iter()
            .map(|s| service(s, id).map_or(0, |x| x["flows"].as_u64().unwrap()))
            .sum();
        assert_eq!(
            Some(sum),
            service(&live, id).unwrap()["flows"].as_u64(),
            "{id}"
        );
    }
}

/// `--hourly` (here every 2 s): one summary per period, of the flows that
/// ended and the packets counted in it; the periods add up to the run.
#[test]
fn periodic_files_add_up_to_the_whole_run() {
    let Some(v) = veths("r", 1) else { return };
    let dir = scratch("live-rotate");
    let Some(pcap) = plain_traffic(&dir) else {
        return;
    };
    let json = dir.join("summary.json");
    let child = start_capture(
        &[&v.near[0]],
        &json,
        &[
            "--hourly",
            "--rotate-seconds",
            "2",
            "--tcp-timeout",
            "1",
            "--udp-timeout",
            "1",
        ],
    );
    let (first, _) = replay(&v, &[&pcap], &[]);
    std::thread::sleep(Duration::from_secs(3));
    let (second, _) = replay(&v, &[&pcap], &[]);
    let total = stop_capture(child, &json, first + second, libc::SIGTERM);
    let mut periods: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with("summary.20") && n.ends_with(".json")
        })
        .collect();
    periods.sort();
    assert!(periods.len() >= 2, "{periods:?}");
    let summaries: Vec<Value> = periods.iter().map(|p| read_json(p)).collect();
    for k in ["packets", "bytes", "flows"] {
        let sum: u64 = summaries
            .iter()
            .map(|s| s["capture"][k].as_u64().unwrap())
            .sum();
        assert_eq!(Some(sum), total["capture"][k].as_u64(), "{k}");
    }
    let top = &total["services"][0];
    let id = top["id"].as_str().unwrap();
    let flows: u64 = summaries
        .iter()
        .map(|s| service(s, id).map_or(0, |x| x["flows"].as_u64().unwrap()))
        .sum();
    assert_eq!(Some(flows), top["flows"].as_u64(), "{id}");
    // Two replays three seconds apart land in different periods.
    assert!(
        periods
            .iter()
            .filter(|p| read_json(p)["capture"]["packets"].as_u64() > Some(0))
            .count()
            >= 2
    );
}

/// A field of /proc/PID/status ("Uid", "CapEff", ...).
fn proc_status(pid: u32, field: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The process runs as nobody (user and group), with no capability.
fn assert_runs_as_nobody(pid: u32) {
    for (field, want) in [
        ("Uid", "65534 65534 65534 65534"),
        ("Gid", "65534 65534 65534 65534"),
        ("CapEff", "0000000000000000"),
        ("CapPrm", "0000000000000000"),
    ] {
        assert_eq!(proc_status(pid, field).as_deref(), Some(want), "{field}");
    }
}

/// Owner and permission bits of a file.
fn owner_mode(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.mode() & 0o777)
}

/// `--user nobody`: the capture opens the interface as root, then runs as
/// nobody with no capabilities left, keeps counting, and its outputs belong
/// to nobody with mode 0640. The documented alternative works too: an
/// unprivileged user capturing with file capabilities (setcap).
#[test]
fn capture_drops_root_and_writes_private_files() {
    let Some(v) = veths("u", 1) else { return };
    let dir = scratch("live-user");
    let Some(pcap) = plain_traffic(&dir) else {
        return;
    };
    // nobody creates its files here.
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    sh(&["chmod", "1777", out.to_str().unwrap()]).unwrap();
    let json = out.join("live.json");
    let events = out.join("events.ndjson");
    let child = start_capture(
        &[&v.near[0]],
        &json,
        &["--user", "nobody", "--events", events.to_str().unwrap()],
    );
    assert_runs_as_nobody(child.id());
    let (sent, _) = replay(&v, &[&pcap], &[]);
    let live = stop_capture(child, &json, sent, libc::SIGTERM);
    assert_eq!(live["capture"]["packets"].as_u64(), Some(sent));
    let read = summary_of(&[&pcap], &["--threads", "1"], &dir, "read");
    assert_eq!(comparable(&live), comparable(&read));
    assert_eq!(owner_mode(&json), (65534, 0o640));
    assert_eq!(owner_mode(&events), (65534, 0o640));
    assert!(!read_ndjson(&events).is_empty());

    // An output nobody cannot write: said at once, not after the capture.
    let root_only = dir.join("root-only");
    std::fs::create_dir(&root_only).unwrap();
    let o = run(&[
        "capture",
        "-i",
        &v.near[0],
        "-q",
        "--user",
        "nobody",
        "--duration",
        "60",
        "--json",
        root_only.join("s.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.trim()
            .ends_with("s.json: cannot write: permission denied"),
        "{err}"
    );

    // An unknown user: one clear line, before anything is written.
    let bad = out.join("bad.json");
    let o = run(&[
        "capture",
        "-i",
        &v.near[0],
        "-q",
        "--user",
        "no-such-user-x",
        "--json",
        bad.to_str().unwrap(),
        "--duration",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(err.trim(), "lanterne: --user no-such-user-x: no such user");
    assert!(!bad.exists());

    // setcap instead of root: a copy of the binary with the capabilities,
    // run as nobody (setpriv, from util-linux); `--user nobody` then gives
    // the capabilities up once the interface is open.
    let copy = out.join("lanterne");
    std::fs::copy(bin(), &copy).unwrap();
    if let Err(e) = sh(&[
        "setcap",
        "cap_net_raw,cap_net_admin+eip",
        copy.to_str().unwrap(),
    ]) {
        eprintln!("SKIPPED (setcap part): {e}");
        return;
    }
    let capjson = out.join("setcap.json");
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&copy)
        .args(["capture", "-i", &v.near[0], "-q", "--count", "500"])
        .args(["--user", "nobody", "--interval", "0.2", "--json"])
        .arg(&capjson)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(child) = o else {
        eprintln!("SKIPPED (setcap part): no setpriv");
        return;
    };
    // (The first snapshot: the interface is open.)
    assert!(wait_until(Duration::from_secs(20), || capjson.exists()));
    assert_runs_as_nobody(child.id());
    replay(&v, &[&pcap], &[]);
    let o = child
        .wait_with_output()
        .expect("setcap capture ends at --count");
    assert_exit(&o, 0);
    assert_eq!(read_json(&capjson)["capture"]["packets"], 500);
    assert_eq!(owner_mode(&capjson), (65534, 0o640));
}

/// The attack mix of tests/stress.rs replayed on a live interface under
/// `--max-memory 192M` with 32 MiB kernel rings: the whole process (its
/// capture buffers included) stays within the budget, every cap reports
/// its work and the real ChatGPT connections in between are reported.
#[test]
fn live_capture_under_attack_stays_within_max_memory() {
    let Some(v) = veths("s", 1) else { return };
    let dir = scratch("live-stress");
    let pcap = dir.join("attack.pcap");
    let mix = lanterne::testutil::AttackMix::scaled(1);
    let truth =
        lanterne::testutil::attack_pcap(&mix, std::fs::File::create(&pcap).unwrap()).unwrap();
    let json = dir.join("live.json");
    let child = start_capture(
        &[&v.near[0]],
        &json,
        &["--max-memory", "192M", "--buffer-mb", "32"],
    );
    let pid = child.id() as libc::pid_t;
    // At a rate the capture keeps up with (a debug build, on a busy
    // machine), so that nothing is dropped.
    let (sent, rate) = replay(&v, &[&pcap], &["--pps", "25000"]);
    assert_eq!(sent, truth.packets);
    wait_until(Duration::from_secs(30), || {
        snapshot(&json).is_some_and(|j| j["capture"]["packets"].as_u64() >= Some(sent))
    });
    // SAFETY: signalling and reaping our own child (wait4 gives its peak RSS).
    let (status, rss) = unsafe {
        libc::kill(pid, libc::SIGTERM);
        let mut status = 0;
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid);
        (status, usage.ru_maxrss as u64 * 1024)
    };
    drop(child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{status}"
    );
    let s = read_json(&json);
    eprintln!(
        "attack replayed live: {sent} packets, {rate}, peak RSS {} MiB",
        rss >> 20
    );
    assert_no_drops(&s);
    let c = &s["capture"];
    assert_eq!(c["packets"].as_u64(), Some(truth.packets));
    assert_eq!(c["flows"].as_u64(), Some(truth.flows));
    let l = &c["limits"];
    assert_eq!(l["max_memory"].as_u64(), Some(192 << 20));
    for k in [
        "evicted_flows",
        "dns_cache_evictions",
        "untracked_host_flows",
    ] {
        assert!(l[k].as_u64() > Some(0), "{k}: {l}");
    }
    let chatgpt = service(&s, "chatgpt").expect("chatgpt");
    assert_eq!(chatgpt["flows"].as_u64(), Some(6));
    assert!(rss <= 192 << 20, "peak RSS {} MiB over 192 MiB", rss >> 20);
}
