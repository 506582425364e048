//! The ClickHouse sink (`--clickhouse URL`): flow events and per-minute
//! host × service aggregates, inserted in batches over ClickHouse's HTTP
//! interface (`FORMAT JSONEachRow`), for fleets of sensors.
//!
//! Design:
//! - **Off the packet path.** The aggregators (one per worker, or the live
//!   capture's) turn each ended flow into a row of their own batch; a full
//!   batch (or, live, one a second old) goes through a bounded channel to one
//!   sender thread, which does the HTTP.
//! - **Nothing lost.** A batch ClickHouse does not take (down, slow, an
//!   error) is written to a spool directory (up to `--clickhouse-spool-mb`)
//!   and sent again, oldest first, when it answers again, also by the next
//!   run if this one ends first. What cannot be kept (spool full, channel
//!   full while live) is counted, never dropped silently: summary
//!   `clickhouse`, Prometheus `lanterne_clickhouse_rows_total{state}`.
//! - **No double counting.** Every batch has a random 64-bit id and every row
//!   its number in the batch; a batch sent again after a lost
//!   acknowledgement carries the same ids. The tables are
//!   `ReplacingMergeTree`s whose sorting key ends with (batch_id, row), so
//!   copies collapse into one row, and the shipped queries read them with
//!   `FINAL`, exact before merges happen.
//! - The SQL (`lanterne clickhouse schema`) runs on the ClickHouse of Debian
//!   12 (18.16) and on current releases: no DateTime64, LowCardinality or
//!   Nullable columns.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

/// Rows per batch at most (a batch is about 3 MB of JSON).
pub const BATCH_ROWS: usize = 5_000;
/// A batch goes out when it is this old, full or not (the rows of a slow
/// read or a quiet capture do not wait for the end).
pub const BATCH_AGE: Duration = Duration::from_secs(1);
/// Batches waiting for the sender at most.
pub const CHANNEL_BATCHES: usize = 16;
/// Memory the sink may hold outside the analysis tables: the batches
/// queued, one being filled per worker and one being sent (`--max-memory`
/// sets it aside).
pub const MEMORY: u64 = (CHANNEL_BATCHES as u64 + 4) * BATCH_ROWS as u64 * 700;
/// Network timeouts of one request.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often the spool is tried again while ClickHouse does not answer.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Where and how to insert.
#[derive(Clone)]
pub struct ChConfig {
    /// `host:port` of the HTTP interface.
    pub addr: String,
    /// The URL as given, without credentials (for reports).
    pub url: String,
    pub database: String,
    pub prefix: String,
    pub user: String,
    pub password: Option<String>,
    pub sensor: String,
    pub spool_dir: PathBuf,
    pub spool_cap: u64,
    /// Live capture: a full channel is counted as lost rather than waited
    /// for (the packet path never blocks); `read` waits.
    pub live: bool,
}

impl std::fmt::Debug for ChConfig {
    /// (Without the password.)
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChConfig")
            .field("addr", &self.addr)
            .field("database", &self.database)
            .field("prefix", &self.prefix)
            .field("user", &self.user)
            .field("sensor", &self.sensor)
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}

/// A name ClickHouse takes unquoted: a letter or _, then letters, digits, _.
pub fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl ChConfig {
    /// Parses `http://[user@]host[:port][/]`.
    pub fn parse_url(url: &str) -> Result<(String, Option<String>), String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--clickhouse {url:?}: an http:// URL of the HTTP interface (e.g. http://clickhouse:8123)"))?;
        if rest.contains(['?', '#']) {
            return Err(format!(
                "--clickhouse {url:?}: no query or fragment (settings go in the server's profile)"
            ));
        }
        let hostport = rest.split('/').next().unwrap_or_default();
        let (user, hostport) = match hostport.rsplit_once('@') {
            Some((u, h)) => {
                if u.contains(':') {
                    return Err("--clickhouse: no password in the URL (it would show in the process list); use LANTERNE_CLICKHOUSE_PASSWORD or --clickhouse-password-file".to_string());
                }
                (Some(u.to_string()), h)
            }
            None => (None, hostport),
        };
        if hostport.is_empty() {
            return Err(format!("--clickhouse {url:?}: no host"));
        }
        let addr = if hostport.starts_with('[') || hostport.rsplit_once(':').is_none() {
            if hostport.ends_with(']') || !hostport.contains(':') {
                format!("{hostport}:8123")
            } else {
                hostport.to_string()
            }
        } else {
            hostport.to_string()
        };
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(format!("--clickhouse {url:?}: bad port"));
        }
        Ok((addr, user))
    }

    fn table(&self, name: &str) -> String {
        format!("{}.{}{}", self.database, self.prefix, name)
    }
}

/// Counters of the sink, shared by its handles and the sender thread.
#[derive(Debug, Default)]
pub struct ChStats {
    pub rows_sent: AtomicU64,
    pub rows_spooled: AtomicU64,
    pub rows_resent: AtomicU64,
    pub rows_lost: AtomicU64,
    pub batches_sent: AtomicU64,
    /// Rows waiting in the spool now.
    pub rows_in_spool: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl ChStats {
    fn error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    /// Rows went through: what failed before is over.
    fn ok(&self) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The summary's `clickhouse` section.
    pub fn to_json(&self, cfg: &ChConfig) -> serde_json::Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "url": cfg.url,
            "database": cfg.database,
            "table_prefix": cfg.prefix,
            "sensor": cfg.sensor,
            "rows_sent": g(&self.rows_sent),
            "rows_spooled": g(&self.rows_spooled),
            "rows_resent": g(&self.rows_resent),
            "rows_in_spool": g(&self.rows_in_spool),
            "rows_lost": g(&self.rows_lost),
            "batches_sent": g(&self.batches_sent),
            "last_error": self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        })
    }
}

/// One ended flow, as the aggregator hands it over.
pub struct FlowRow<'a> {
    pub ts_start_ns: i64,
    pub ts_end_ns: i64,
    pub client: &'a str,
    pub server: &'a str,
    pub client_port: u16,
    pub server_port: u16,
    pub transport: &'a str,
    pub server_name: &'a str,
    pub via: &'a str,
    pub service: &'a str,
    pub vendor: &'a str,
    pub category: &'a str,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub packets_up: u64,
    pub packets_down: u64,
    pub ech: bool,
    pub alpn: &'a [String],
    pub ja4: &'a str,
    pub internal: bool,
}

/// A batch on its way: its id, the flow rows (JSON lines) and the minute
/// aggregates of its internal flows.
struct Batch {
    id: u64,
    flows: Vec<u8>,
    rows: u32,
    minutes: BTreeMap<(i64, String, String), (u64, u64, u64)>,
    started: Instant,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            id: random_id(),
            flows: Vec::new(),
            rows: 0,
            minutes: BTreeMap::new(),
            started: Instant::now(),
        }
    }

    /// The aggregates as JSON lines.
    fn minute_lines(&self, sensor: &str) -> (Vec<u8>, u32) {
        let mut out = Vec::new();
        let mut row = 0u32;
        for ((minute, host, service), (flows, up, down)) in &self.minutes {
            let line = json!({
                "sensor": sensor, "batch_id": self.id, "row": row,
                "minute": minute, "host": host, "service": service,
                "flows": flows, "bytes_up": up, "bytes_down": down,
            });
            serde_json::to_writer(&mut out, &line).expect("serialise");
            out.push(b'\n');
            row += 1;
        }
        (out, row)
    }
}

fn random_id() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .expect("system random");
    // (ClickHouse's JSON reads UInt64 fine, but keep ids below 2^63 so that
    // any client reads them as signed too.)
    u64::from_le_bytes(b) >> 1
}

/// What the sender thread receives.
enum Msg {
    Batch(Batch),
}

/// A handle the aggregators write through; each clone keeps its own batch.
pub struct ChSink {
    cfg: Arc<ChConfig>,
    tx: SyncSender<Msg>,
    pub stats: Arc<ChStats>,
    batch: Batch,
}

impl Clone for ChSink {
    fn clone(&self) -> Self {
        ChSink {
            cfg: self.cfg.clone(),
            tx: self.tx.clone(),
            stats: self.stats.clone(),
            batch: Batch::new(),
        }
    }
}

impl ChSink {
    /// Adds an ended flow.
    pub fn flow(&mut self, f: &FlowRow<'_>) {
        if self.batch.rows == 0 {
            self.batch.started = Instant::now();
        }
        let secs = |ns: i64| ns.div_euclid(1_000_000_000);
        let ms = |ns: i64| (ns.rem_euclid(1_000_000_000) / 1_000_000) as u16;
        let line = json!({
            "sensor": self.cfg.sensor, "batch_id": self.batch.id, "row": self.batch.rows,
            "ts_start": secs(f.ts_start_ns), "ts_start_ms": ms(f.ts_start_ns),
            "ts_end": secs(f.ts_end_ns), "ts_end_ms": ms(f.ts_end_ns),
            "client": f.client, "server": f.server,
            "client_port": f.client_port, "server_port": f.server_port,
            "transport": f.transport, "server_name": f.server_name, "via": f.via,
            "service": f.service, "vendor": f.vendor, "category": f.category,
            "bytes_up": f.bytes_up, "bytes_down": f.bytes_down,
            "packets_up": f.packets_up, "packets_down": f.packets_down,
            "ech": u8::from(f.ech), "alpn": f.alpn, "ja4": f.ja4,
            "internal": u8::from(f.internal),
        });
        serde_json::to_writer(&mut self.batch.flows, &line).expect("serialise");
        self.batch.flows.push(b'\n');
        self.batch.rows += 1;
        if f.internal {
            let minute = secs(f.ts_end_ns).div_euclid(60) * 60;
            let e = self
                .batch
                .minutes
                .entry((minute, f.client.to_string(), f.service.to_string()))
                .or_default();
            e.0 += 1;
            e.1 += f.bytes_up;
            e.2 += f.bytes_down;
        }
        if self.batch.rows as usize >= BATCH_ROWS || self.batch.started.elapsed() >= BATCH_AGE {
            self.send();
        }
    }

    /// Hands a batch over if it is older than `age` (live capture: a
    /// second).
    pub fn flush_older(&mut self, age: Duration) {
        if self.batch.rows > 0 && self.batch.started.elapsed() >= age {
            self.send();
        }
    }

    /// Hands the batch over now.
    pub fn flush(&mut self) {
        if self.batch.rows > 0 {
            self.send();
        }
    }

    fn send(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Batch::new());
        self.hand_over(batch, self.cfg.live);
    }

    /// `try_only`: a live capture never waits for the sender (a full queue
    /// counts the rows as lost).
    fn hand_over(&self, batch: Batch, try_only: bool) {
        let rows = u64::from(batch.rows);
        let gone = if try_only {
            matches!(
                self.tx.try_send(Msg::Batch(batch)),
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_))
            )
        } else {
            self.tx.send(Msg::Batch(batch)).is_err()
        };
        if gone {
            self.stats.rows_lost.fetch_add(rows, Ordering::Relaxed);
        }
    }
}

impl Drop for ChSink {
    /// The last rows: waiting for the sender is harmless at the end, even
    /// live.
    fn drop(&mut self) {
        if self.batch.rows > 0 {
            let batch = std::mem::replace(&mut self.batch, Batch::new());
            self.hand_over(batch, false);
        }
    }
}

/// The sender thread and the first handle.
pub struct ChWriter {
    join: Option<std::thread::JoinHandle<()>>,
    pub stats: Arc<ChStats>,
    pub cfg: Arc<ChConfig>,
}

/// Starts the sender thread (creating the database and tables if missing)
/// and returns it with a handle for the aggregators. Fails if the spool
/// cannot be used (another lanterne holds it, or it cannot be created).
pub fn start(cfg: ChConfig, finish_within: Duration) -> Result<(ChWriter, ChSink), String> {
    let cfg = Arc::new(cfg);
    let stats = Arc::new(ChStats::default());
    let spool = Spool::open(&cfg.spool_dir, cfg.spool_cap, &stats)?;
    let (tx, rx) = sync_channel(CHANNEL_BATCHES);
    let (c, s) = (cfg.clone(), stats.clone());
    let join = std::thread::Builder::new()
        .name("clickhouse".into())
        .spawn(move || sender(&c, &s, spool, rx, finish_within))
        .map_err(|e| format!("clickhouse: {e}"))?;
    let sink = ChSink {
        cfg: cfg.clone(),
        tx,
        stats: stats.clone(),
        batch: Batch::new(),
    };
    Ok((
        ChWriter {
            join: Some(join),
            stats,
            cfg,
        },
        sink,
    ))
}

impl ChWriter {
    /// Waits for the sender: every handle must be dropped first (their last
    /// batches go out then). It sends what is queued, then tries the spool
    /// until it is empty or the time given to `start` is over.
    pub fn finish(mut self) -> Arc<ChStats> {
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
        self.stats.clone()
    }
}

/// Spooled bodies sent per turn of the sender's loop (in between, it takes
/// the batches that keep coming, so that a long backlog does not hold them).
const RESEND_PER_TURN: usize = 8;

/// The sender thread.
fn sender(
    cfg: &ChConfig,
    stats: &ChStats,
    mut spool: Spool,
    rx: Receiver<Msg>,
    finish_within: Duration,
) {
    let mut schema_ok = false;
    let mut next_retry = Instant::now();
    loop {
        match rx.recv_timeout(RETRY_EVERY) {
            Ok(Msg::Batch(b)) => {
                ensure_schema(cfg, stats, &mut schema_ok);
                send_batch(cfg, stats, &mut spool, b);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if !spool.is_empty() && Instant::now() >= next_retry {
            ensure_schema(cfg, stats, &mut schema_ok);
            if spool.resend(cfg, stats, RESEND_PER_TURN) == Resend::Failed {
                next_retry = Instant::now() + RETRY_EVERY;
            }
        }
    }
    // The run is over: empty the spool if ClickHouse lets us in time.
    let deadline = Instant::now() + finish_within;
    while !spool.is_empty() && Instant::now() < deadline {
        ensure_schema(cfg, stats, &mut schema_ok);
        if spool.resend(cfg, stats, usize::MAX) == Resend::Failed {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Creates the tables if they are missing, until that worked once (the
/// server may come up after the sensor).
fn ensure_schema(cfg: &ChConfig, stats: &ChStats, ok: &mut bool) {
    if !*ok {
        match create_schema(cfg) {
            Ok(()) => *ok = true,
            Err(e) => stats.error(e),
        }
    }
}

fn send_batch(cfg: &ChConfig, stats: &ChStats, spool: &mut Spool, b: Batch) {
    let rows = u64::from(b.rows);
    let (minutes, n_minutes) = b.minute_lines(&cfg.sensor);
    let parts = [
        (cfg.table("flows"), b.flows, b.rows),
        (cfg.table("host_service_minutes"), minutes, n_minutes),
    ];
    for (i, (table, body, n)) in parts.into_iter().enumerate() {
        if n == 0 {
            continue;
        }
        let flows = if i == 0 { rows } else { 0 };
        // Spooled parts go after what waits already, to keep the order.
        let sent = spool.is_empty() && {
            match insert(cfg, &table, &body) {
                Ok(()) => true,
                Err(Failure::Rejected(e)) => {
                    // ClickHouse will never take it (a bad row, a wrong
                    // table): counted, not kept.
                    stats.error(e);
                    stats.rows_lost.fetch_add(flows, Ordering::Relaxed);
                    continue;
                }
                Err(Failure::Unreachable(e)) => {
                    stats.error(e);
                    false
                }
            }
        };
        if sent {
            stats.ok();
            if i == 0 {
                stats.rows_sent.fetch_add(rows, Ordering::Relaxed);
                stats.batches_sent.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            spool.add(&table, &body, flows, stats);
        }
    }
}

/// Why a request failed.
#[derive(Debug)]
enum Failure {
    /// No answer, or a server error: worth trying again.
    Unreachable(String),
    /// An answer that says the data is wrong (HTTP 4xx): never worth it.
    Rejected(String),
}

impl Failure {
    fn message(self) -> String {
        match self {
            Failure::Unreachable(m) | Failure::Rejected(m) => m,
        }
    }
}

/// Sends one body to `table`.
fn insert(cfg: &ChConfig, table: &str, body: &[u8]) -> Result<(), Failure> {
    let q = format!("INSERT INTO {table} FORMAT JSONEachRow");
    request(cfg, &q, body).map(|_| ())
}

/// Runs a statement (`query` in the URL, `body` as its data).
pub fn post(cfg: &ChConfig, query: &str, body: &[u8]) -> Result<String, String> {
    request(cfg, query, body).map_err(Failure::message)
}

fn request(cfg: &ChConfig, query: &str, body: &[u8]) -> Result<String, Failure> {
    let down = |e: std::io::Error| Failure::Unreachable(format!("clickhouse {}: {e}", cfg.addr));
    let addrs: Vec<_> = cfg.addr.to_socket_addrs().map_err(down)?.collect();
    let mut last = None;
    let mut stream = None;
    // Every address of the name, in turn (localhost may be ::1 first).
    for a in &addrs {
        match TcpStream::connect_timeout(a, TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut s = match stream {
        Some(s) => s,
        None => {
            return Err(down(last.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
            })))
        }
    };
    s.set_read_timeout(Some(TIMEOUT)).ok();
    s.set_write_timeout(Some(TIMEOUT)).ok();
    // The answer only once the statement is done (an error after a 200
    // status would otherwise hide in the body).
    let mut head = format!(
        "POST /?wait_end_of_query=1&send_progress_in_http_headers=0&query={} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\nX-ClickHouse-User: {}\r\n",
        url_encode(query),
        cfg.addr,
        body.len(),
        cfg.user
    );
    if let Some(p) = &cfg.password {
        head.push_str(&format!("X-ClickHouse-Key: {p}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .map_err(down)?;
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).map_err(down)?;
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            Failure::Unreachable(format!(
                "clickhouse {}: not HTTP: {:?}",
                cfg.addr,
                status.trim()
            ))
        })?;
    // Headers, then the body (with Connection: close, to the end; chunked
    // bodies are read whole, chunk sizes included: only shown in errors).
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
            Err(e) => return Err(down(e)),
        }
    }
    let mut text = String::new();
    let _ = r.take(1 << 20).read_to_string(&mut text);
    let exception = text.lines().find(|l| l.contains("DB::Exception"));
    match (code, exception) {
        (200, None) => Ok(text),
        (200..=499, e) => Err(Failure::Rejected(format!(
            "clickhouse {}: HTTP {code}: {}",
            cfg.addr,
            e.unwrap_or(text.trim()).trim()
        ))),
        (_, e) => Err(Failure::Unreachable(format!(
            "clickhouse {}: HTTP {code}: {}",
            cfg.addr,
            e.unwrap_or(text.trim()).trim()
        ))),
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a resend did.
#[derive(Debug, PartialEq, Eq)]
enum Resend {
    /// The spool is empty.
    Emptied,
    /// Some bodies went, more wait.
    Partly,
    /// ClickHouse did not answer.
    Failed,
}

/// Batches ClickHouse did not take, as files `NNNNNNNNNNNN.ROWS.TABLE`
/// (written under a temporary name, then renamed: a file is whole or
/// absent), sent again oldest first. One process at a time: a lock file.
struct Spool {
    dir: PathBuf,
    cap: u64,
    bytes: u64,
    /// (sequence, rows, table, size), oldest first.
    files: std::collections::VecDeque<(u64, u64, String, u64)>,
    next: u64,
    /// Held while the spool is ours (flock).
    _lock: std::fs::File,
}

/// A table name as lanterne writes it: `database.table`, letters, digits, _.
fn valid_table(t: &str) -> bool {
    let mut parts = t.split('.');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

impl Spool {
    /// Opens the spool, with what an earlier run left in it.
    fn open(dir: &Path, cap: u64, stats: &ChStats) -> Result<Spool, String> {
        use std::os::unix::fs::DirBuilderExt;
        let fail = |e: std::io::Error| format!("--clickhouse-spool {}: {e}", dir.display());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))
            .map_err(fail)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&lock),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        } != 0
        {
            return Err(format!(
                "--clickhouse-spool {}: another lanterne uses it (give each run its own)",
                dir.display()
            ));
        }
        let mut files = Vec::new();
        for e in std::fs::read_dir(dir).map_err(fail)?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".tmp") {
                // A write cut short: never complete.
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let mut it = name.splitn(3, '.');
            if let (Some(seq), Some(rows), Some(table)) = (it.next(), it.next(), it.next()) {
                if let (Ok(seq), Ok(rows), true) =
                    (seq.parse::<u64>(), rows.parse::<u64>(), valid_table(table))
                {
                    let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                    files.push((seq, rows, table.to_string(), size));
                }
            }
        }
        files.sort();
        let bytes = files.iter().map(|f| f.3).sum();
        let rows: u64 = files.iter().map(|f| f.1).sum();
        stats.rows_in_spool.store(rows, Ordering::Relaxed);
        Ok(Spool {
            dir: dir.to_path_buf(),
            cap,
            bytes,
            next: files.last().map_or(0, |f| f.0 + 1),
            files: files.into(),
            _lock: lock,
        })
    }

    fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn path(&self, seq: u64, rows: u64, table: &str) -> PathBuf {
        self.dir.join(format!("{seq:012}.{rows}.{table}"))
    }

    /// Keeps a body for later; `rows`: flow rows it holds (0 for
    /// aggregates, which are counted with their flows).
    fn add(&mut self, table: &str, body: &[u8], rows: u64, stats: &ChStats) {
        let size = body.len() as u64;
        if self.bytes + size > self.cap {
            stats.rows_lost.fetch_add(rows, Ordering::Relaxed);
            stats.error(format!(
                "spool {} full ({} MiB): rows lost",
                self.dir.display(),
                self.cap >> 20
            ));
            return;
        }
        let seq = self.next;
        self.next += 1;
        let path = self.path(seq, rows, table);
        let tmp = path.with_extension("tmp");
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| f.write_all(body).and_then(|_| f.sync_data()))
            .and_then(|_| std::fs::rename(&tmp, &path));
        match written {
            Ok(()) => {
                self.bytes += size;
                self.files.push_back((seq, rows, table.to_string(), size));
                stats.rows_spooled.fetch_add(rows, Ordering::Relaxed);
                stats.rows_in_spool.fetch_add(rows, Ordering::Relaxed);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                stats.rows_lost.fetch_add(rows, Ordering::Relaxed);
                stats.error(format!("spool {}: {e}", path.display()));
            }
        }
    }

    /// Forgets the oldest body (sent, or never to be).
    fn pop(&mut self, stats: &ChStats) -> Option<(u64, u64, String, u64)> {
        let f = self.files.pop_front()?;
        self.bytes = self.bytes.saturating_sub(f.3);
        let _ = std::fs::remove_file(self.path(f.0, f.1, &f.2));
        let _ = stats
            .rows_in_spool
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(f.1))
            });
        Some(f)
    }

    /// Sends up to `most` spooled bodies, oldest first, until one fails.
    fn resend(&mut self, cfg: &ChConfig, stats: &ChStats, most: usize) -> Resend {
        for _ in 0..most {
            let Some((seq, rows, table, _)) = self.files.front().cloned() else {
                return Resend::Emptied;
            };
            let body = match std::fs::read(self.path(seq, rows, &table)) {
                Ok(b) => b,
                Err(e) => {
                    stats.error(format!("spool: {e}"));
                    stats.rows_lost.fetch_add(rows, Ordering::Relaxed);
                    self.pop(stats);
                    continue;
                }
            };
            match insert(cfg, &table, &body) {
                Ok(()) => {
                    self.pop(stats);
                    stats.ok();
                    stats.rows_resent.fetch_add(rows, Ordering::Relaxed);
                    stats.rows_sent.fetch_add(rows, Ordering::Relaxed);
                    if rows > 0 {
                        stats.batches_sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(Failure::Rejected(e)) => {
                    // Never to be taken: counted, not retried forever.
                    stats.error(e);
                    stats.rows_lost.fetch_add(rows, Ordering::Relaxed);
                    self.pop(stats);
                }
                Err(Failure::Unreachable(e)) => {
                    stats.error(e);
                    return Resend::Failed;
                }
            }
        }
        if self.is_empty() {
            Resend::Emptied
        } else {
            Resend::Partly
        }
    }
}

/// The queries shipped for audits and dashboards, each after a
/// `-- name: NAME` line (`lanterne clickhouse queries`).
pub const QUERIES: &str = include_str!("../contrib/clickhouse/queries.sql");

/// The `CREATE` statements: the database and two tables, or with a
/// `cluster`, the tables of each node (`…_local`) and `Distributed` tables
/// over them, which the sensors insert into and the queries read; all of them
/// to run on every node (no distributed DDL needed, which older ClickHouse
/// only has with ZooKeeper).
pub fn schema(database: &str, prefix: &str, cluster: Option<&str>) -> Vec<String> {
    let local = if cluster.is_some() { "_local" } else { "" };
    let flows = format!("{database}.{prefix}flows{local}");
    let minutes = format!("{database}.{prefix}host_service_minutes{local}");
    let mut v = vec![
        format!("CREATE DATABASE IF NOT EXISTS {database}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {flows} (
    sensor String,
    batch_id UInt64,
    row UInt32,
    ts_start DateTime,
    ts_start_ms UInt16,
    ts_end DateTime,
    ts_end_ms UInt16,
    client String,
    server String,
    client_port UInt16,
    server_port UInt16,
    transport String,
    server_name String,
    via String,
    service String,
    vendor String,
    category String,
    bytes_up UInt64,
    bytes_down UInt64,
    packets_up UInt64,
    packets_down UInt64,
    ech UInt8,
    alpn Array(String),
    ja4 String,
    internal UInt8
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts_start)
ORDER BY (sensor, service, ts_start, batch_id, row)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {minutes} (
    sensor String,
    batch_id UInt64,
    row UInt32,
    minute DateTime,
    host String,
    service String,
    flows UInt64,
    bytes_up UInt64,
    bytes_down UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (sensor, service, minute, host, batch_id, row)"
        ),
    ];
    if let Some(c) = cluster {
        for t in ["flows", "host_service_minutes"] {
            v.push(format!(
                "CREATE TABLE IF NOT EXISTS {database}.{prefix}{t} AS {database}.{prefix}{t}_local
ENGINE = Distributed({c}, {database}, {prefix}{t}_local, sipHash64(sensor, batch_id))"
            ));
        }
    }
    v
}

/// Creates the single-node schema if it is missing.
fn create_schema(cfg: &ChConfig) -> Result<(), String> {
    for stmt in schema(&cfg.database, &cfg.prefix, None) {
        post(cfg, &stmt, b"")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            ChConfig::parse_url("http://ch:8123").unwrap(),
            ("ch:8123".into(), None)
        );
        assert_eq!(
            ChConfig::parse_url("http://lanterne@10.0.0.9/").unwrap(),
            ("10.0.0.9:8123".into(), Some("lanterne".into()))
        );
        assert_eq!(
            ChConfig::parse_url("http://[::1]:9000").unwrap(),
            ("[::1]:9000".into(), None)
        );
        assert_eq!(
            ChConfig::parse_url("http://[::1]").unwrap(),
            ("[::1]:8123".into(), None)
        );
        assert!(ChConfig::parse_url("https://ch:8443").is_err());
        assert!(ChConfig::parse_url("http://u:pw@ch")
            .unwrap_err()
            .contains("no password"));
        assert!(ChConfig::parse_url("http:///").is_err());
        assert!(ChConfig::parse_url("http://ch:8123?password=x").is_err());
        assert!(ChConfig::parse_url("http://ch:99999").is_err());
        assert!(ChConfig::parse_url("http://ch:x").is_err());
        assert!(is_identifier("lanterne") && is_identifier("_x1"));
        assert!(!is_identifier("") && !is_identifier("1x") && !is_identifier("a.b"));
        assert!(valid_table("lanterne.flows") && !valid_table("a.b.c") && !valid_table("a b.c"));
    }

    #[test]
    fn encoding_and_schema() {
        assert_eq!(url_encode("INSERT INTO a.b"), "INSERT%20INTO%20a.b");
        let s = schema("lanterne", "x_", None);
        assert_eq!(s.len(), 3);
        assert!(s[1].contains("lanterne.x_flows (") && s[1].contains("ReplacingMergeTree()"));
        let c = schema("lanterne", "", Some("fleet"));
        assert_eq!(c.len(), 5);
        assert!(c[1].contains("lanterne.flows_local ("));
        assert!(c[3].contains("Distributed(fleet, lanterne, flows_local"));
    }
}
