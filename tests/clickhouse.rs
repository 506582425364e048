//! `--clickhouse` against a real ClickHouse server (Debian's
//! `clickhouse-server`, 18.16, started here on loopback with its own
//! configuration): the SQL totals equal the summary of the same run, a
//! server stopped in the middle of a run loses and doubles nothing, two
//! sensors add up in the shipped fleet query, and the cluster schema
//! (Distributed tables) works.
//!
//! `.ci/run` installs the server and sets LANTERNE_CLICKHOUSE_TESTS=1: the
//! tests must run there. Elsewhere, without the server, they print SKIPPED.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// One test at a time: each starts its own server.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const PASSWORD: &str = "lantern-test-pw";

struct ClickHouse {
    dir: PathBuf,
    http: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn server_binary() -> Option<&'static str> {
    ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

impl ClickHouse {
    /// A server in `dir`, or None (SKIPPED) where none is installed.
    fn start(dir: &Path) -> Option<ClickHouse> {
        let Some(_) = server_binary() else {
            if std::env::var("LANTERNE_CLICKHOUSE_TESTS").is_ok_and(|v| v == "1") {
                panic!("LANTERNE_CLICKHOUSE_TESTS=1 but clickhouse-server is not installed");
            }
            eprintln!("SKIPPED: clickhouse-server is not installed");
            return None;
        };
        let (http, tcp) = (free_port(), free_port());
        let d = dir.display();
        std::fs::write(
            dir.join("config.xml"),
            format!(
                r#"<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>5368709</mark_cache_size>
    <remote_servers>
        <fleet><shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard></fleet>
    </remote_servers>
</yandex>
"#
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("users.xml"),
            format!(
                r#"<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users>
        <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
        <sensor><password>{PASSWORD}</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></sensor>
    </users>
    <quotas><default></default></quotas>
</yandex>
"#
            ),
        )
        .unwrap();
        let mut ch = ClickHouse {
            dir: dir.to_path_buf(),
            http,
            child: None,
        };
        ch.run();
        Some(ch)
    }

    /// Starts the server (again) and waits until it answers.
    fn run(&mut self) {
        let child = Command::new(server_binary().unwrap())
            .arg(format!(
                "--config-file={}",
                self.dir.join("config.xml").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clickhouse-server");
        self.child = Some(child);
        let t0 = Instant::now();
        while self.query("SELECT 1").as_deref() != Ok("1\n") {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "clickhouse-server does not answer: {:?}",
                std::fs::read_to_string(self.dir.join("error.log"))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (SIGKILL: as a crash or a power cut would).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("http://sensor@127.0.0.1:{}", self.http)
    }

    /// Runs `sql` as the default user; the answer (TabSeparated).
    fn query(&self, sql: &str) -> Result<String, String> {
        let mut s =
            std::net::TcpStream::connect(("127.0.0.1", self.http)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let req = format!(
            "POST / HTTP/1.0\r\nHost: x\r\nContent-Length: {}\r\n\r\n{sql}",
            sql.len()
        );
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let mut out = String::new();
        std::io::Read::read_to_string(&mut s, &mut out).map_err(|e| e.to_string())?;
        let (head, body) = out.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
        if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
            Ok(body.to_string())
        } else {
            Err(format!("{sql}: {body}"))
        }
    }

    fn q(&self, sql: &str) -> String {
        self.query(sql).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A query of contrib/clickhouse/queries.sql, by name, for database `db`.
fn shipped(name: &str, db: &str) -> String {
    let text = lanterne::clickhouse::QUERIES;
    let block = text
        .split(&format!("-- name: {name}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no query {name}"));
    let sql: Vec<&str> = block
        .lines()
        .take_while(|l| !l.starts_with("-- name:"))
        .filter(|l| !l.starts_with("--"))
        .collect();
    sql.join("\n")
        .trim()
        .trim_end_matches(';')
        .replace("lanterne.", &format!("{db}."))
}

/// service → (flows, bytes up, bytes down) of a summary.
fn summary_services(s: &Value) -> Vec<(String, u64, u64, u64)> {
    let mut v: Vec<_> = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["id"].as_str().unwrap().to_string(),
                x["flows"].as_u64().unwrap(),
                x["bytes_up"].as_u64().unwrap(),
                x["bytes_down"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The same from TabSeparated rows `service flows up down` (extra columns
/// `skip` after the service are left out).
fn sql_services(tsv: &str, skip: usize) -> Vec<(String, u64, u64, u64)> {
    let mut v: Vec<_> = tsv
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| f[i + skip].parse::<u64>().unwrap();
            (f[0].to_string(), n(1), n(2), n(3))
        })
        .collect();
    v.sort();
    v
}

fn per_service(ch: &ClickHouse, db: &str, sensor: &str) -> Vec<(String, u64, u64, u64)> {
    sql_services(
        &ch.q(&format!(
            "SELECT service, count(), sum(bytes_up), sum(bytes_down) FROM {db}.flows FINAL \
             WHERE internal = 1 AND sensor = '{sensor}' GROUP BY service"
        )),
        0,
    )
}

fn per_service_minutes(ch: &ClickHouse, db: &str, sensor: &str) -> Vec<(String, u64, u64, u64)> {
    sql_services(
        &ch.q(&format!(
            "SELECT service, sum(flows), sum(bytes_up), sum(bytes_down) \
             FROM {db}.host_service_minutes FINAL WHERE sensor = '{sensor}' GROUP BY service"
        )),
        0,
    )
}

/// Both tables hold, for `sensor`, the per-service totals of `summary`.
fn assert_totals(ch: &ClickHouse, db: &str, sensor: &str, summary: &Value) {
    let want = summary_services(summary);
    assert!(!want.is_empty());
    assert_eq!(per_service(ch, db, sensor), want, "flows table");
    assert_eq!(per_service_minutes(ch, db, sensor), want, "minutes table");
}

fn read_into(ch: &ClickHouse, pcap: &Path, dir: &Path, sensor: &str, extra: &[&str]) -> Value {
    let json = dir.join(format!("{sensor}.json"));
    let o = Command::new(bin())
        .args(["read", "-q"])
        .arg(pcap)
        .args(["--clickhouse", &ch.url(), "--sensor", sensor, "--json"])
        .arg(&json)
        .args(["--clickhouse-spool"])
        .arg(dir.join(format!("spool-{sensor}")))
        .args(extra)
        .env("LANTERNE_CLICKHOUSE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_exit(&o, 0);
    read_json(&json)
}

fn traffic(dir: &Path, name: &str, seed: &str) -> Option<PathBuf> {
    generate(
        dir,
        name,
        &[
            "--flows",
            "3000",
            "--seed",
            seed,
            "--duration",
            "120",
            "--modern",
        ],
    )
}

/// The SQL totals of a run equal its summary, per service, in both tables;
/// a batch inserted again (a retry after a lost acknowledgement) does not
/// count twice.
#[test]
fn sql_totals_equal_the_summary_and_retries_count_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = scratch("ch-totals");
    let Some(ch) = ClickHouse::start(&dir) else {
        return;
    };
    let Some(pcap) = traffic(&dir, "t.pcap", "21") else {
        return;
    };
    let s = read_into(&ch, &pcap, &dir, "site-a", &["--threads", "2"]);
    let want = summary_services(&s);
    assert!(want.len() >= 5, "{want:?}");
    assert_totals(&ch, "lanterne", "site-a", &s);
    let c = &s["clickhouse"];
    assert_eq!(
        (c["rows_lost"].as_u64(), c["rows_in_spool"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(c["sensor"], "site-a");
    // Every AI flow went (external clients included, flagged).
    let rows = ch.q("SELECT count() FROM lanterne.flows FINAL WHERE sensor = 'site-a'");
    assert_eq!(rows.trim().parse::<u64>().ok(), c["rows_sent"].as_u64());
    // A batch sent twice: same ids, counted once.
    let again = ch.q(
        "SELECT * FROM lanterne.flows WHERE sensor = 'site-a' AND batch_id = \
         (SELECT min(batch_id) FROM lanterne.flows WHERE sensor = 'site-a') FORMAT JSONEachRow",
    );
    assert!(!again.is_empty());
    ch.q(&format!(
        "INSERT INTO lanterne.flows FORMAT JSONEachRow\n{again}"
    ));
    let raw = ch.q("SELECT count() FROM lanterne.flows WHERE sensor = 'site-a'");
    assert!(raw.trim().parse::<u64>().unwrap() > rows.trim().parse::<u64>().unwrap());
    assert_eq!(per_service(&ch, "lanterne", "site-a"), want);
}

/// ClickHouse killed in the middle of a run and started again: the batches
/// it missed wait in the spool and go when it is back; the totals still
/// equal the summary and the spool ends empty.
#[test]
fn a_server_down_in_the_middle_loses_and_doubles_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = scratch("ch-fault");
    let Some(mut ch) = ClickHouse::start(&dir) else {
        return;
    };
    let Some(pcap) = traffic(&dir, "f.pcap", "22") else {
        return;
    };
    let bytes = std::fs::read(&pcap).unwrap();
    let json = dir.join("f.json");
    let spool = dir.join("spool");
    let mut child = Command::new(bin())
        .args(["read", "-q", "-", "--threads", "1", "--sensor", "site-f"])
        .args([
            "--clickhouse",
            &ch.url(),
            "--clickhouse-wait",
            "120",
            "--json",
        ])
        .arg(&json)
        .arg("--clickhouse-spool")
        .arg(&spool)
        .env("LANTERNE_CLICKHOUSE_PASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The capture in six parts, 1.5 s apart (batches go out every second);
    // the server is down during parts 3 and 4.
    let part = bytes.len() / 6 + 1;
    for (i, chunk) in bytes.chunks(part).enumerate() {
        if i == 2 {
            ch.stop();
        }
        if i == 4 {
            ch.run();
        }
        stdin.write_all(chunk).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
    }
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_exit(&o, 0);
    let s = read_json(&json);
    let c = &s["clickhouse"];
    assert!(
        c["rows_spooled"].as_u64() > Some(0),
        "the fault was not seen: {c}"
    );
    assert_eq!(c["rows_resent"], c["rows_spooled"]);
    assert_eq!(
        (c["rows_lost"].as_u64(), c["rows_in_spool"].as_u64()),
        (Some(0), Some(0))
    );
    // (Nothing but its lock file.)
    let left: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n != ".lock")
        .collect();
    assert!(left.is_empty(), "spool not empty: {left:?}");
    assert_totals(&ch, "lanterne", "site-f", &s);
}

/// Two sensors in one database: the shipped fleet query gives the totals
/// of the merged summaries (`lanterne report`).
#[test]
fn two_sensors_add_up_in_the_fleet_query() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = scratch("ch-fleet");
    let Some(ch) = ClickHouse::start(&dir) else {
        return;
    };
    let (Some(a), Some(b)) = (traffic(&dir, "a.pcap", "31"), traffic(&dir, "b.pcap", "32")) else {
        return;
    };
    read_into(&ch, &a, &dir, "paris", &[]);
    read_into(&ch, &b, &dir, "lyon", &[]);
    let merged = dir.join("merged.json");
    let o = run(&[
        "report",
        dir.join("paris.json").to_str().unwrap(),
        dir.join("lyon.json").to_str().unwrap(),
        "--json",
        merged.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    // fleet_services: service, vendor, hosts, flows, bytes_up, bytes_down.
    let fleet = ch.q(&shipped("fleet_services", "lanterne"));
    let rows: Vec<(String, u64, u64, u64)> = {
        let mut v: Vec<_> = fleet
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let n = |i: usize| f[i].parse::<u64>().unwrap();
                (f[0].to_string(), n(3), n(4), n(5))
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(rows, summary_services(&read_json(&merged)));
    // The other shipped queries run.
    for q in [
        "services_per_day_and_sensor",
        "top_hosts_by_upload",
        "new_services_this_week",
        "upload_per_minute",
    ] {
        ch.q(&shipped(q, "lanterne"));
    }
    let sensors = ch.q("SELECT DISTINCT sensor FROM lanterne.flows ORDER BY sensor");
    assert_eq!(sensors, "lyon\nparis\n");
    // The Grafana dashboard's queries run, with the plugin's macros and the
    // sensor variable expanded as Grafana would; its services panel gives
    // the fleet totals.
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/grafana/lanterne-clickhouse.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let expand = |sql: &str| {
        let mut out = sql.replace("${sensor:singlequote}", "'paris','lyon'");
        while let Some(at) = out.find("$__timeFilter(") {
            let end = at + out[at..].find(')').unwrap();
            let col = &out[at + "$__timeFilter(".len()..end];
            let cond = format!("{col} >= toDateTime(0) AND {col} <= toDateTime(4000000000)");
            out.replace_range(at..=end, &cond);
        }
        out
    };
    let mut ran = 0;
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let sql = expand(t["rawSql"].as_str().unwrap());
            let out = ch.q(&sql);
            if p["title"] == "AI services" {
                let mut v: Vec<_> = out
                    .lines()
                    .map(|l| {
                        let f: Vec<&str> = l.split('\t').collect();
                        let n = |i: usize| f[i].parse::<u64>().unwrap();
                        (f[0].to_string(), n(3), n(4), n(5))
                    })
                    .collect();
                v.sort();
                assert_eq!(v, rows);
            }
            ran += 1;
        }
    }
    assert_eq!(ran, 5);
    let var = dash["templating"]["list"][1]["query"].as_str().unwrap();
    assert_eq!(ch.q(var), "lyon\nparis\n");
}

/// The cluster variant of `lanterne clickhouse schema`: local tables and
/// Distributed tables over them (a one-shard cluster here); the sensor
/// inserts through the Distributed tables and the totals still match.
#[test]
fn cluster_schema_with_distributed_tables() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = scratch("ch-cluster");
    let Some(ch) = ClickHouse::start(&dir) else {
        return;
    };
    let Some(pcap) = traffic(&dir, "c.pcap", "41") else {
        return;
    };
    let o = run(&[
        "clickhouse",
        "schema",
        "--database",
        "fleetdb",
        "--cluster",
        "fleet",
    ]);
    assert_exit(&o, 0);
    let sql = String::from_utf8(o.stdout).unwrap();
    for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        ch.q(stmt);
    }
    let engine =
        ch.q("SELECT engine FROM system.tables WHERE database = 'fleetdb' AND name = 'flows'");
    assert_eq!(engine, "Distributed\n");
    let s = read_into(
        &ch,
        &pcap,
        &dir,
        "site-c",
        &["--clickhouse-database", "fleetdb"],
    );
    let want = summary_services(&s);
    // (Distributed inserts reach the shard in the background, each table
    // on its own.)
    let t0 = Instant::now();
    while per_service(&ch, "fleetdb", "site-c") != want
        || per_service_minutes(&ch, "fleetdb", "site-c") != want
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{:?} {:?}",
            per_service(&ch, "fleetdb", "site-c"),
            per_service_minutes(&ch, "fleetdb", "site-c")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Live capture into ClickHouse (on the loopback interface, traffic
/// replayed with tcpreplay, the server's own traffic filtered out): the
/// SQL totals equal the final summary, and the metrics endpoint counts the
/// rows sent.
#[test]
fn live_capture_fills_clickhouse() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || Command::new("tcpreplay").arg("-V").output().is_err() {
        if std::env::var("LANTERNE_CLICKHOUSE_TESTS").is_ok_and(|v| v == "1") {
            panic!("LANTERNE_CLICKHOUSE_TESTS=1 but not root or no tcpreplay");
        }
        eprintln!("SKIPPED: live capture needs root and tcpreplay");
        return;
    }
    let dir = scratch("ch-live");
    let Some(ch) = ClickHouse::start(&dir) else {
        return;
    };
    let Some(pcap) = generate(
        &dir,
        "l.pcap",
        &["--flows", "1500", "--seed", "51", "--duration", "20"],
    ) else {
        return;
    };
    let json = dir.join("live.json");
    let mport = free_port();
    let metrics = format!("127.0.0.1:{mport}");
    /// Kills the capture if the test fails half-way.
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Command::new(bin())
        .args([
            "capture",
            "-i",
            "lo",
            "-q",
            "--bpf",
            "not net 127.0.0.0/8 and not ip6",
        ])
        .args(["--clickhouse", &ch.url(), "--sensor", "live"])
        .arg("--clickhouse-spool")
        .arg(dir.join("spool"))
        .args(["--metrics", &metrics, "--interval", "0.2", "--json"])
        .arg(&json)
        .args([
            "--tcp-timeout",
            "2",
            "--udp-timeout",
            "2",
            "--dedup-ms",
            "0",
        ])
        .env("LANTERNE_CLICKHOUSE_PASSWORD", PASSWORD)
        .stderr(Stdio::null())
        .spawn()
        .map(Kill)
        .unwrap();
    let t0 = Instant::now();
    while !json.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no snapshot from the capture"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = Command::new("tcpreplay")
        .args(["-i", "lo", "--pps", "20000"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sent: u64 = String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Successful packets:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("tcpreplay's count");
    let seen = |j: &Value| j["capture"]["packets"].as_u64().unwrap_or(0);
    let t0 = Instant::now();
    while std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .map_or(0, |j| seen(&j))
        < sent
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the capture did not see every packet"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Flows ended by their (short) timeouts reach ClickHouse while the
    // capture runs: the metrics say so.
    let sent_rows = || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", mport)).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
        let mut out = String::new();
        std::io::Read::read_to_string(&mut s, &mut out).ok()?;
        out.lines()
            .find_map(|l| l.strip_prefix("lanterne_clickhouse_rows_total{state=\"sent\"} "))
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    let t0 = Instant::now();
    while sent_rows().unwrap_or(0) == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no rows sent while capturing"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    assert!(status.success());
    let s = read_json(&json);
    assert_eq!(s["capture"]["packets"].as_u64(), Some(sent));
    assert_eq!(s["clickhouse"]["rows_lost"], 0);
    assert_totals(&ch, "lanterne", "live", &s);
}

/// A spooled batch ClickHouse refuses (a file cut short, a table that
/// changed) is counted as lost and dropped, not retried forever ahead of
/// everything else; a spool another lanterne holds is refused at start.
#[test]
fn a_refused_batch_does_not_block_the_spool() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = scratch("ch-refused");
    let Some(ch) = ClickHouse::start(&dir) else {
        return;
    };
    let Some(pcap) = traffic(&dir, "r.pcap", "61") else {
        return;
    };
    let spool = dir.join("spool-site-r");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(
        spool.join("000000000000.7.lanterne.flows"),
        b"{\"sensor\": \"cut sh",
    )
    .unwrap();
    // (Rows lost: exit code 1, and one line that says so.)
    let json = dir.join("r.json");
    let o = Command::new(bin())
        .args(["read", "-q"])
        .arg(&pcap)
        .args(["--clickhouse", &ch.url(), "--sensor", "site-r", "--json"])
        .arg(&json)
        .arg("--clickhouse-spool")
        .arg(&spool)
        .env("LANTERNE_CLICKHOUSE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(
        err.trim(),
        "lanterne: clickhouse: 7 flow rows lost (see the summary)"
    );
    let s = read_json(&json);
    let c = &s["clickhouse"];
    assert_eq!(c["rows_lost"], 7, "{c}");
    assert_eq!(c["rows_in_spool"], 0, "{c}");
    assert_eq!(per_service(&ch, "lanterne", "site-r"), summary_services(&s));
    // Two runs on one spool: the second is refused, in one line.
    let lock = std::fs::File::open(spool.join(".lock")).unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );
    let o = Command::new(bin())
        .args(["read", "-q"])
        .arg(&pcap)
        .args([
            "--clickhouse",
            &ch.url(),
            "--sensor",
            "site-r",
            "--clickhouse-spool",
        ])
        .arg(&spool)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(err.contains("another lanterne uses it"), "{err}");
}

/// The schema and every shipped query (and the dashboard's) also run on a
/// current ClickHouse: chDB, the embedded ClickHouse engine of the day
/// (`pip install chdb`), fed the rows a sensor inserted into the 18.16
/// server; its fleet totals equal the summary too.
#[test]
fn schema_and_queries_run_on_a_current_clickhouse() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let has_chdb = Command::new("python3")
        .args(["-c", "import chdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_chdb {
        if std::env::var("LANTERNE_CLICKHOUSE_TESTS").is_ok_and(|v| v == "1") {
            panic!("LANTERNE_CLICKHOUSE_TESTS=1 but python3 cannot import chdb");
        }
        eprintln!("SKIPPED: chdb (pip install chdb) is not available");
        return;
    }
    let dir = scratch("ch-current");
    let Some(ch) = ClickHouse::start(&dir) else {
        return;
    };
    let Some(pcap) = traffic(&dir, "n.pcap", "71") else {
        return;
    };
    let s = read_into(&ch, &pcap, &dir, "site-n", &[]);
    // What the sensor inserted, as rows to insert again.
    for t in ["flows", "host_service_minutes"] {
        let rows = ch.q(&format!("SELECT * FROM lanterne.{t} FORMAT JSONEachRow"));
        std::fs::write(dir.join(format!("{t}.jsonl")), rows).unwrap();
    }
    let o = run(&["clickhouse", "schema"]);
    assert_exit(&o, 0);
    std::fs::write(dir.join("schema.sql"), &o.stdout).unwrap();
    // The shipped queries and the dashboard's, one per line of a JSON list.
    let mut queries: Vec<(String, String)> = Vec::new();
    for name in lanterne::clickhouse::QUERIES
        .lines()
        .filter_map(|l| l.strip_prefix("-- name: "))
    {
        queries.push((name.to_string(), shipped(name, "lanterne")));
    }
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/grafana/lanterne-clickhouse.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for p in dash["panels"].as_array().unwrap() {
        let sql = p["targets"][0]["rawSql"]
            .as_str()
            .unwrap()
            .replace("${sensor:singlequote}", "'site-n'")
            .replace("$__timeFilter(minute)", "minute >= toDateTime(0)")
            .replace("$__timeFilter(ts_start)", "ts_start >= toDateTime(0)");
        queries.push((format!("dashboard: {}", p["title"].as_str().unwrap()), sql));
    }
    std::fs::write(
        dir.join("queries.json"),
        serde_json::to_vec(&queries).unwrap(),
    )
    .unwrap();
    let script = r#"
import json, sys
from chdb import session
d = sys.argv[1]
s = session.Session()
out = {"version": str(s.query("SELECT version()", "TSV")).strip()}
for stmt in open(d + "/schema.sql").read().split(";"):
    if stmt.strip():
        s.query(stmt, "TSV")
for t in ["flows", "host_service_minutes"]:
    rows = open(d + "/" + t + ".jsonl").read()
    s.query("INSERT INTO lanterne." + t + " FORMAT JSONEachRow\n" + rows, "TSV")
    # Each batch again: a retry after a lost acknowledgement.
    s.query("INSERT INTO lanterne." + t + " FORMAT JSONEachRow\n" + rows, "TSV")
res = {}
for name, sql in json.load(open(d + "/queries.json")):
    res[name] = str(s.query(sql, "TSV"))
out["results"] = res
print(json.dumps(out))
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    let version = out["version"].as_str().unwrap();
    eprintln!("chDB: ClickHouse {version}");
    assert!(
        version.split('.').next().unwrap().parse::<u32>().unwrap() >= 23,
        "{version}"
    );
    let res = &out["results"];
    assert_eq!(res.as_object().unwrap().len(), queries.len());
    // fleet_services: service, vendor, hosts, flows, bytes_up, bytes_down.
    let mut fleet: Vec<(String, u64, u64, u64)> = res["fleet_services"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| f[i].parse::<u64>().unwrap();
            (f[0].to_string(), n(3), n(4), n(5))
        })
        .collect();
    fleet.sort();
    assert_eq!(fleet, summary_services(&s));
    assert!(!res["dashboard: Bytes sent to AI services, per minute"]
        .as_str()
        .unwrap()
        .is_empty());
}
