//! The `lanterne` command line (see DESIGN.md "Command line").

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand, ValueEnum};

use lanterne::engine::Config;

/// mimalloc (its 2.x line: less resident memory than 3.x, same speed here)
/// instead of the system allocator: flows allocate a few small objects each
/// (names, reassembly buffers), and glibc's malloc/free cost ~10% of a run;
/// see BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the `mi_option_e` enum of mimalloc 2.x
/// (libmimalloc-sys 0.1.49, `c_src/mimalloc/v2/include/mimalloc.h`; the crate
/// does not name it); a test below checks the index against the option's default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
use lanterne::pipeline;
use lanterne::policy::Policy;
use lanterne::report::{self, AggOptions, SummaryInput};
use lanterne::signatures::{Catalog, Cidr};

#[derive(Parser)]
#[command(
    name = "lanterne",
    version,
    about = "See which public generative-AI services your hosts use, from network traffic",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Analyse pcap/pcapng files (several in time order; '-' reads stdin; .gz ok).
    Read(Box<ReadArgs>),
    /// Capture live on one or more interfaces (libpcap) until Ctrl-C, SIGTERM, --duration or --count.
    Capture(Box<CaptureArgs>),
    /// Merge summaries (several sensors, captures or days) and report on them.
    Report(ReportArgs),
    /// Inspect the AI-service catalog.
    Signatures {
        #[command(subcommand)]
        cmd: SigCmd,
    },
    /// ClickHouse: the SQL of the tables `--clickhouse` fills.
    Clickhouse {
        #[command(subcommand)]
        cmd: ChCmd,
    },
}

#[derive(Args)]
struct Common {
    /// Signature catalog: a directory of *.toml files or one file (default: built in).
    #[arg(long, value_name = "PATH")]
    signatures: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum FailOn {
    /// Exit 3 when an AI service the policy does not sanction was used.
    Unsanctioned,
}

#[derive(Args)]
struct ReadArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed); '-' for stdin.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    #[command(flatten)]
    an: AnalysisArgs,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Size of the read chunks shared by the workers (tuning and tests; default: from
    /// --max-memory, at most 1 MiB).
    #[arg(long, value_name = "BYTES", hide = true)]
    chunk_bytes: Option<usize>,
    /// Progress bar on stderr: auto (when stderr is a terminal), always, never.
    #[arg(long, value_enum, default_value_t = When::Auto)]
    progress: When,
}

/// The summary's files and the reports' language (`read`, `capture`, `report`).
#[derive(Args)]
struct Outputs {
    /// Write the summary JSON (lanterne.summary/1) to FILE, '-' for stdout.
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    /// Write one CSV row per host × service.
    #[arg(long, value_name = "FILE")]
    csv: Option<String>,
    /// Write the HTML audit report (one self-contained file, works offline, prints on A4).
    #[arg(long, value_name = "FILE")]
    html: Option<String>,
    /// Language of the terminal and HTML reports: en or fr (JSON, CSV and events do not change).
    #[arg(long, value_enum, default_value_t = LangArg::En)]
    lang: LangArg,
}

impl Outputs {
    /// Writes `summary` to the files asked for (`cat`: the data-use facts of
    /// the HTML report); one line per error.
    fn write(&self, summary: &serde_json::Value, cat: Option<&Catalog>) -> Vec<String> {
        write_outputs(
            summary,
            self.json.as_deref(),
            self.csv.as_deref(),
            self.html
                .as_deref()
                .zip(cat)
                .map(|(h, c)| (h, c, self.lang.into())),
        )
    }

    /// Whether one of them is stdout (then no terminal table).
    fn claims_stdout(&self) -> bool {
        [&self.json, &self.csv, &self.html]
            .iter()
            .any(|o| o.as_deref() == Some("-"))
    }
}

#[derive(Args)]
struct ReportArgs {
    /// Summary files (lanterne.summary/1) written by `read` or `capture` --json.
    #[arg(required = true, value_name = "SUMMARY.json")]
    summaries: Vec<PathBuf>,
    #[command(flatten)]
    out: Outputs,
    /// No terminal report.
    #[arg(short, long)]
    quiet: bool,
    /// The catalog whose data-use facts the HTML report shows (default: built in).
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct CaptureArgs {
    /// Interface to capture on; repeat for several (e.g. both directions of a TAP).
    #[arg(short = 'i', long = "interface", required = true, value_name = "IFACE")]
    interfaces: Vec<String>,
    #[command(flatten)]
    an: AnalysisArgs,
    /// BPF filter (tcpdump syntax), e.g. 'not port 22'.
    #[arg(long, value_name = "EXPR")]
    bpf: Option<String>,
    /// Bytes kept of each frame.
    #[arg(long, default_value_t = 65535, value_name = "BYTES")]
    snaplen: u32,
    /// Kernel capture buffer per interface, in MiB.
    #[arg(long, default_value_t = 64, value_name = "MB")]
    buffer_mb: u32,
    /// Do not put the interfaces in promiscuous mode.
    #[arg(long)]
    no_promisc: bool,
    /// Deliver each frame as soon as it arrives. By default the kernel hands
    /// frames over in blocks (at most 100 ms late), which packs its buffer far
    /// better: libpcap's immediate mode on Linux gives each frame a
    /// snaplen-sized slot, so the same buffer holds fewer frames in a burst.
    #[arg(long)]
    immediate: bool,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// With --json FILE: rewrite the summary every SECS seconds (atomically: a
    /// crash loses at most one interval).
    #[arg(long, value_name = "SECS")]
    interval: Option<f64>,
    /// Frames identical to one seen less than MS ago are duplicates from
    /// overlapping mirror sessions: counted apart, not analysed (0: off).
    #[arg(long, default_value_t = 10, value_name = "MS")]
    dedup_ms: u64,
    /// With --json FILE: also one summary per hour, FILE.YYYY-MM-DDTHH.json
    /// (UTC), of the flows that ended and the packets counted in that hour.
    #[arg(long)]
    hourly: bool,
    /// The period of --hourly files, in seconds (tests).
    #[arg(long, hide = true, default_value_t = 3600, value_name = "SECS")]
    rotate_seconds: u64,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9477, [::]:9477) at /metrics.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// With --metrics: also per-host series (one per host × service; mind the cardinality).
    #[arg(long)]
    metrics_per_host: bool,
    /// Once the interfaces are open (and the metrics port bound), give up root for this
    /// user; output files are then created as this user.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
}

/// Options shared by `read` and `capture`.
#[derive(Args)]
struct AnalysisArgs {
    #[command(flatten)]
    common: Common,
    /// Policy file: sanctioned services and the organisation's own AI tools (TOML).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Exit with code 3 on unsanctioned AI use (for scheduled audits).
    #[arg(long, value_enum, value_name = "WHAT")]
    fail_on: Option<FailOn>,
    /// Internal address ranges, comma-separated CIDRs (replaces the default RFC 1918/6598, ULA, link-local, loopback).
    #[arg(long, value_name = "CIDR,...", value_delimiter = ',')]
    internal: Vec<String>,
    #[command(flatten)]
    out: Outputs,
    /// Write one NDJSON line per ended flow to an AI service ('-' for stdout).
    #[arg(long, value_name = "FILE")]
    events: Option<String>,
    /// With --events: every flow, AI or not.
    #[arg(long)]
    events_all: bool,
    /// Write one NDJSON line per extracted fact (SNI, DNS, HTTP Host), '-' for stdout.
    #[arg(long, value_name = "FILE")]
    facts: Option<String>,
    /// Memory for the analysis state (flows, reassembly, DNS names, hosts), e.g. 512M, 2G:
    /// every table has a cap from it, and what a cap turns away is counted.
    #[arg(long, default_value = "1G", value_name = "SIZE")]
    max_memory: String,
    /// Flows tracked at once, at most (default: what --max-memory allows; the one with the
    /// earliest deadline is evicted, counted).
    #[arg(long, value_name = "N")]
    max_flows: Option<usize>,
    /// TCP idle timeout in seconds (capture time).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    tcp_timeout: u64,
    /// UDP idle timeout in seconds (capture time).
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    udp_timeout: u64,
    /// Grace period added to DNS answer TTLs for naming flows through DNS.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    dns_grace: u64,
    /// Timeline bucket size in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    bucket_seconds: u64,
    /// No terminal report and no progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Print processing-latency percentiles and flow duration/size distributions to stderr.
    #[arg(long)]
    stats: bool,
    /// Replace internal addresses by keyed tokens (HMAC-SHA256) in every output; '@FILE'
    /// reads the key from FILE (keeps it out of the process list).
    #[arg(long, value_name = "KEY")]
    pseudonymize: Option<String>,
    /// Count internal hosts per subnet: an IPv4 prefix length (<= 32) and/or an IPv6 one
    /// (> 32), e.g. 24, 64 or 24,56 (the one not given: 24 and 64).
    #[arg(long, value_name = "LEN[,LEN]", value_delimiter = ',')]
    host_prefix: Vec<u8>,
    /// Also insert the AI flows and per-minute host × service totals into ClickHouse, at this
    /// HTTP interface URL (http://host:8123); the password comes from LANTERNE_CLICKHOUSE_PASSWORD
    /// or --clickhouse-password-file.
    #[arg(long, value_name = "URL")]
    clickhouse: Option<String>,
    /// ClickHouse database (created with its tables if missing).
    #[arg(long, value_name = "NAME", default_value = "lanterne")]
    clickhouse_database: String,
    /// Prefix of the ClickHouse table names.
    #[arg(long, value_name = "PREFIX", default_value = "")]
    clickhouse_table_prefix: String,
    /// ClickHouse user (default: the URL's, or "default").
    #[arg(long, value_name = "NAME")]
    clickhouse_user: Option<String>,
    /// File holding the ClickHouse password.
    #[arg(long, value_name = "FILE")]
    clickhouse_password_file: Option<PathBuf>,
    /// Where batches ClickHouse did not take wait (default: spool-SENSOR in /var/lib/lanterne,
    /// the user's state directory or the temporary one); sent again when it answers, by this
    /// run or the next.
    #[arg(long, value_name = "DIR")]
    clickhouse_spool: Option<PathBuf>,
    /// Most megabytes the spool may hold (beyond, rows are counted as lost).
    #[arg(long, value_name = "MB", default_value_t = 512)]
    clickhouse_spool_mb: u64,
    /// At the end of the run, how long to keep trying to empty the spool.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    clickhouse_wait: u64,
    /// Name of this sensor in ClickHouse rows (default: the host name).
    #[arg(long, value_name = "NAME")]
    sensor: Option<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum LangArg {
    En,
    Fr,
}

impl From<LangArg> for lanterne::i18n::Lang {
    fn from(l: LangArg) -> Self {
        match l {
            LangArg::En => lanterne::i18n::Lang::En,
            LangArg::Fr => lanterne::i18n::Lang::Fr,
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum When {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand)]
enum ChCmd {
    /// Print the CREATE statements (MergeTree tables; with --cluster, local tables on every
    /// node and Distributed tables over them). ClickHouse 18.16 (Debian 12) and later.
    Schema {
        #[arg(long, value_name = "NAME", default_value = "lanterne")]
        database: String,
        #[arg(long, value_name = "PREFIX", default_value = "")]
        table_prefix: String,
        /// Cluster name (from the servers' remote_servers configuration).
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
    },
    /// Print the queries shipped for audits and dashboards (contrib/clickhouse/queries.sql).
    Queries,
}

#[derive(Subcommand)]
enum SigCmd {
    /// List the services of the catalog.
    List {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Validate the catalog (syntax, duplicates, overlaps, missing sources).
    Check {
        #[command(flatten)]
        common: Common,
    },
    /// Show which service each name matches, or the candidate clue of a name
    /// that matches none (exit 1 if none matched).
    Match {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Catalog stubs (a policy file) for the candidates of summaries: names seen
    /// that look like AI services the catalog does not know, to review.
    Suggest {
        #[command(flatten)]
        common: Common,
        #[arg(required = true, value_name = "SUMMARY.json")]
        summaries: Vec<PathBuf>,
    },
    /// Which names of external host lists (plain, v2fly, Clash, Surge, hosts,
    /// Adblock, dnsmasq) the catalog does not cover, for review; never imports.
    Diff {
        #[command(flatten)]
        common: Common,
        /// What a bare name means: auto (v2fly's name-and-subdomains in a v2fly
        /// file, else the exact name), plain (the exact name), v2fly.
        #[arg(long, value_enum, default_value_t = lanterne::hostlists::Format::Auto)]
        list_format: lanterne::hostlists::Format,
        /// Also list the rules the catalog covers.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(required = true, value_name = "LIST")]
        lists: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    // mimalloc hands freed memory back to the kernel 10 ms after it falls idle;
    // flows come and go all the time, so the same pages were faulted in and
    // zeroed again and again (clear_page: 10-17% of a run). One second keeps
    // them across the churn and still returns memory a quiet sensor no longer
    // needs.
    // SAFETY: mi_option_set only stores an integer option.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    // No transparent huge pages: mimalloc asks for them on its 1 GiB arena,
    // and every first touch of a 2 MiB page then zeroes all of it (with two
    // workers, clear_page was 13% of a run). Without them the two-worker run
    // is ~15% faster and peak RSS is 67 MB instead of 82 (BENCHMARKS.md).
    // SAFETY: prctl with integer arguments only sets a flag of this process.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0)
    };
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let res = match cli.cmd {
        Cmd::Read(a) => cmd_read(*a),
        Cmd::Capture(a) => cmd_capture(*a),
        Cmd::Report(a) => cmd_report(a),
        Cmd::Signatures { cmd } => cmd_signatures(cmd),
        Cmd::Clickhouse { cmd } => cmd_clickhouse(cmd),
    };
    match res {
        Ok(code) => ExitCode::from(code),
        Err(Fail::Usage(m)) => {
            eprintln!("lanterne: {m}");
            ExitCode::from(2)
        }
        Err(Fail::Runtime(m)) => {
            eprintln!("lanterne: {m}");
            ExitCode::from(1)
        }
    }
}

enum Fail {
    Usage(String),
    Runtime(String),
}

fn load_catalog(c: &Common) -> Result<Catalog, Fail> {
    match &c.signatures {
        None => Ok(Catalog::builtin()),
        Some(p) => {
            let cat = Catalog::load(p).map_err(Fail::Usage)?;
            if !cat.problems.is_empty() {
                return Err(Fail::Usage(format!(
                    "{}: {} problem(s) in the catalog, first: {}",
                    p.display(),
                    cat.problems.len(),
                    cat.problems[0]
                )));
            }
            Ok(cat)
        }
    }
}

/// Opens an output: '-' is stdout.
fn open_out(path: &str) -> Result<Box<dyn Write + Send>, Fail> {
    if path == "-" {
        Ok(Box::new(io::stdout()))
    } else {
        lanterne::privileges::create_private(Path::new(path))
            .map(|f| Box::new(f) as Box<dyn Write + Send>)
            .map_err(|e| Fail::Runtime(format!("{path}: cannot create: {e}")))
    }
}

/// Fails if `path` cannot be written (a file is created next to it and
/// removed; a device or pipe is opened for writing).
fn probe_writable(path: &str) -> Result<(), Fail> {
    let p = Path::new(path);
    let fail =
        |e: io::Error| Fail::Runtime(format!("{path}: cannot write: {}", pipeline::io_reason(&e)));
    if path == "-" {
        return Ok(());
    }
    if std::fs::metadata(p).is_ok_and(|m| !m.is_file()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .map(drop)
            .map_err(fail);
    }
    let probe = p.with_file_name(format!(
        ".{}.probe{}",
        p.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    lanterne::privileges::create_private(&probe).map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Writes a whole file atomically (temp file + rename) or to stdout.
fn write_whole(path: &str, content: &[u8]) -> Result<(), String> {
    if path == "-" {
        let mut o = io::stdout().lock();
        return o
            .write_all(content)
            .and_then(|_| o.flush())
            .map_err(|e| format!("stdout: {e}"));
    }
    let p = Path::new(path);
    // Devices and pipes (/dev/null, /dev/stdout, a FIFO) are written in place:
    // renaming a temporary file over them would replace them.
    if std::fs::metadata(p).is_ok_and(|m| !m.is_file()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .and_then(|mut f| f.write_all(content))
            .map_err(|e| format!("{path}: cannot write: {e}"));
    }
    let tmp = p.with_file_name(format!(
        ".{}.tmp{}",
        p.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    lanterne::privileges::create_private(&tmp)
        .and_then(|mut f| f.write_all(content))
        .and_then(|_| std::fs::rename(&tmp, p))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("{path}: cannot write: {e}")
        })
}

/// What `read` and `capture` set up alike from their shared options.
struct Prepared {
    catalog: Catalog,
    policy: Policy,
    cfg: Config,
    agg_opts: AggOptions,
    facts_out: Option<Box<dyn Write + Send>>,
    /// One of --json, --events, --facts writes to stdout (no terminal table).
    stdout_claimed: bool,
    /// `--clickhouse`: the sender thread (its handle is in `agg_opts`).
    clickhouse: Option<lanterne::clickhouse::ChWriter>,
    /// Live capture (ClickHouse batches never block it).
    live: bool,
}

/// What `read` and `capture` share, from their options; `threads`: the
/// workers that will analyse (each gets its share of the memory budget);
/// `outside`: memory the run holds outside the analysis (live capture
/// buffers), taken off `--max-memory` first.
fn prepare(a: &AnalysisArgs, threads: usize, outside: u64, live: bool) -> Result<Prepared, Fail> {
    // (The ClickHouse sink's batches are outside the analysis too.)
    let outside = outside
        + if a.clickhouse.is_some() {
            lanterne::clickhouse::MEMORY
        } else {
            0
        };
    let mut catalog = load_catalog(&a.common)?;
    let policy = match &a.policy {
        Some(p) => Policy::load(p, &mut catalog).map_err(Fail::Usage)?,
        None => Policy::default(),
    };
    let internal: Vec<Cidr> = if a.internal.is_empty() {
        report::default_internal()
    } else {
        a.internal
            .iter()
            .map(|s| {
                Cidr::parse(s).ok_or_else(|| Fail::Usage(format!("--internal: invalid CIDR {s:?}")))
            })
            .collect::<Result<_, _>>()?
    };
    let max_memory = lanterne::limits::parse_size(&a.max_memory)
        .map_err(|e| Fail::Usage(format!("--max-memory: {e}")))?;
    let min = lanterne::limits::MIN_MAX_MEMORY;
    if max_memory.saturating_sub(outside) < min {
        return Err(Fail::Usage(if outside == 0 {
            format!("--max-memory: at least {} MiB", min >> 20)
        } else {
            format!(
                "--max-memory: at least {} MiB: buffers outside the analysis take {} MiB (capture rings, --buffer-mb per interface, and batches on their way; the ClickHouse queue) and the analysis needs {} MiB",
                (outside + min).div_ceil(1 << 20),
                outside.div_ceil(1 << 20),
                min >> 20
            )
        }));
    }
    let mut limits = lanterne::limits::Limits::from_budget(max_memory - outside, threads)
        .with_max_flows(a.max_flows);
    limits.max_memory = max_memory;
    if a.max_flows == Some(0) || a.bucket_seconds == 0 {
        return Err(Fail::Usage(
            "--max-flows and --bucket-seconds must be positive".into(),
        ));
    }
    let to_stdout = [&a.out.json, &a.events, &a.facts, &a.out.csv, &a.out.html]
        .iter()
        .filter(|o| o.as_deref() == Some("-"))
        .count();
    if to_stdout > 1 {
        return Err(Fail::Usage(
            "only one of --json, --csv, --html, --events, --facts can write to stdout".into(),
        ));
    }
    let key = match a.pseudonymize.as_deref() {
        None => None,
        Some(k) => {
            let bytes = match k.strip_prefix('@') {
                Some(path) => std::fs::read(path)
                    .map_err(|e| Fail::Usage(format!("--pseudonymize {k}: {e}")))?
                    .trim_ascii_end()
                    .to_vec(),
                None => k.as_bytes().to_vec(),
            };
            if bytes.is_empty() {
                return Err(Fail::Usage("--pseudonymize: the key is empty".into()));
            }
            Some(bytes)
        }
    };
    let v4s = a.host_prefix.iter().filter(|&&l| l <= 32).count();
    let prefix =
        match a.host_prefix.as_slice() {
            [] => None,
            lens if lens.len() <= 2
                && lens.iter().all(|&l| l <= 128)
                && v4s <= 1
                && lens.len() - v4s <= 1 =>
            {
                let v4 = lens.iter().find(|&&l| l <= 32).copied().unwrap_or(24);
                let v6 = lens.iter().find(|&&l| l > 32).copied().unwrap_or(64);
                Some((v4, v6))
            }
            _ => return Err(Fail::Usage(
                "--host-prefix: an IPv4 length (<= 32) and/or an IPv6 one (> 32), e.g. 24 or 24,64"
                    .into(),
            )),
        };
    let view = lanterne::privacy::HostView::new(key.as_deref(), prefix, internal.clone());
    let cfg = Config {
        tcp_timeout_ns: a.tcp_timeout as i64 * 1_000_000_000,
        udp_timeout_ns: a.udp_timeout as i64 * 1_000_000_000,
        dns_grace_ns: a.dns_grace as i64 * 1_000_000_000,
        bucket_ns: a.bucket_seconds as i64 * 1_000_000_000,
        fingerprints: a.events.is_some() || a.clickhouse.is_some(),
        latency: a.stats,
        hosts: view.clone(),
        limits,
        ..Config::default()
    };
    let agg_opts = AggOptions {
        internal,
        bucket_seconds: a.bucket_seconds,
        events: None,
        events_all: a.events_all,
        distributions: a.stats,
        view,
        limits,
        max_hosts: limits.max_hosts,
        clickhouse: None,
        candidate_bytes: limits.candidate_bytes,
    };
    Ok(Prepared {
        catalog,
        policy,
        cfg,
        agg_opts,
        facts_out: None,
        stdout_claimed: to_stdout > 0,
        clickhouse: None,
        live,
    })
}

/// Creates the streamed outputs (`--facts`, `--events`): after `prepare`,
/// and for `capture` after dropping privileges (files owned by `--user`).
fn open_streams(a: &AnalysisArgs, p: &mut Prepared) -> Result<(), Fail> {
    // The outputs written at the end: can they be? (Better now than after a
    // day of capture.)
    for path in [&a.out.json, &a.out.csv, &a.out.html].into_iter().flatten() {
        probe_writable(path)?;
    }
    if let Some(url) = &a.clickhouse {
        let (writer, sink) = lanterne::clickhouse::start(
            clickhouse_config(a, url, p.live)?,
            std::time::Duration::from_secs(a.clickhouse_wait),
        )
        .map_err(Fail::Runtime)?;
        p.agg_opts.clickhouse = Some(sink);
        p.clickhouse = Some(writer);
    }
    p.facts_out = a.facts.as_deref().map(open_out).transpose()?;
    p.agg_opts.events = a
        .events
        .as_deref()
        .map(open_out)
        .transpose()?
        .map(report::shared_writer);
    Ok(())
}

/// The ClickHouse settings from the options.
fn clickhouse_config(
    a: &AnalysisArgs,
    url: &str,
    live: bool,
) -> Result<lanterne::clickhouse::ChConfig, Fail> {
    let (addr, url_user) = lanterne::clickhouse::ChConfig::parse_url(url).map_err(Fail::Usage)?;
    let password = match &a.clickhouse_password_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| {
                    Fail::Usage(format!("--clickhouse-password-file {}: {e}", f.display()))
                })?
                .trim_end()
                .to_string(),
        ),
        None => std::env::var("LANTERNE_CLICKHOUSE_PASSWORD").ok(),
    };
    let ident = |s: &str, what: &str| -> Result<(), Fail> {
        if lanterne::clickhouse::is_identifier(s) {
            Ok(())
        } else {
            Err(Fail::Usage(format!(
                "{what} {s:?}: a letter or _ first, then letters, digits and _"
            )))
        }
    };
    ident(&a.clickhouse_database, "--clickhouse-database")?;
    if !a.clickhouse_table_prefix.is_empty() {
        ident(&a.clickhouse_table_prefix, "--clickhouse-table-prefix")?;
    }
    let sensor = a.sensor.clone().unwrap_or_else(hostname);
    let spool = a.clickhouse_spool.clone().unwrap_or_else(|| {
        let safe: String = sensor
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // The first place this user may keep state in: /var/lib/lanterne
        // (a service), the XDG state directory, the temporary directory.
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let candidates = [
            Some(PathBuf::from("/var/lib/lanterne")),
            std::env::var_os("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("lanterne")),
            home.map(|h| h.join(".local/state/lanterne")),
        ];
        candidates
            .into_iter()
            .flatten()
            .find(|d| std::fs::create_dir_all(d).is_ok() && is_writable(d))
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("spool-{safe}"))
    });
    Ok(lanterne::clickhouse::ChConfig {
        addr,
        url: url.to_string(),
        database: a.clickhouse_database.clone(),
        prefix: a.clickhouse_table_prefix.clone(),
        user: a
            .clickhouse_user
            .clone()
            .or(url_user)
            .unwrap_or_else(|| "default".into()),
        password,
        sensor,
        spool_dir: spool,
        spool_cap: a.clickhouse_spool_mb.saturating_mul(1 << 20),
        live,
    })
}

/// Whether this process may create files in `dir`.
fn is_writable(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: access with a valid C string.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// This machine's name.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most len bytes into our buffer.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if r == 0 && n > 0 {
        String::from_utf8_lossy(&buf[..n]).into_owned()
    } else {
        "sensor".into()
    }
}

/// The summary of a run (or of a live snapshot), with the catalog and the
/// sanctioned services in use (a reload may change them).
#[allow(clippy::too_many_arguments)]
fn summary_of(
    cat: &Catalog,
    sanctioned: &std::collections::BTreeSet<String>,
    policy_file: Option<&str>,
    agg: &report::Aggregator,
    inputs: &[String],
    stats: &lanterne::stats::Stats,
    drops: (u64, u64),
    read_errors: &[String],
) -> serde_json::Value {
    agg.summary(&SummaryInput {
        inputs,
        stats,
        catalog: cat,
        sanctioned,
        policy_file,
        drops_kernel: drops.0,
        drops_interface: drops.1,
        read_errors,
    })
}

/// Writes a summary's file outputs (`--json`, `--csv`, `--html` with its
/// catalog and language); one line per error.
fn write_outputs(
    summary: &serde_json::Value,
    json: Option<&str>,
    csv: Option<&str>,
    html: Option<(&str, &Catalog, lanterne::i18n::Lang)>,
) -> Vec<String> {
    let mut outs: Vec<(&str, String)> = Vec::new();
    if let Some(j) = json {
        outs.push((j, summary_text(summary)));
    }
    if let Some(c) = csv {
        outs.push((c, report::csv_of_summary(summary)));
    }
    if let Some((h, cat, lang)) = html {
        outs.push((h, lanterne::html::render(summary, cat, lang)));
    }
    outs.into_iter()
        .filter_map(|(path, text)| write_whole(path, text.as_bytes()).err())
        .collect()
}

fn summary_text(summary: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(summary).expect("summary serialises");
    text.push('\n');
    text
}

/// Writes a run's outputs and says how it ended (exit code). `cat` and
/// `policy`: those the run ended with.
#[allow(clippy::too_many_arguments)]
fn finish(
    a: &AnalysisArgs,
    p: &Prepared,
    clickhouse: Option<lanterne::clickhouse::ChWriter>,
    cat: &Catalog,
    policy: &Policy,
    run: pipeline::Analysis,
    inputs: &[String],
    drops: (u64, u64),
    elapsed: f64,
) -> u8 {
    let mut write_errors = Vec::new();
    let (stats, mut agg, read_errors, latency, workers) = (
        run.stats,
        run.agg,
        run.read_errors,
        run.latency,
        run.workers,
    );
    if let Some(e) = run.facts_error {
        write_errors.push(format!("--facts: {e}"));
    }
    if let Some(e) = agg.finish_events() {
        write_errors.push(format!("--events: {e}"));
    }
    // Every ClickHouse handle is gone (the last rows go out): the sender
    // sends what is queued and tries to empty the spool.
    agg.close_clickhouse();
    let clickhouse = clickhouse.map(|w| {
        let cfg = w.cfg.clone();
        let st = w.finish();
        let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let (lost, kept) = (g(&st.rows_lost), g(&st.rows_in_spool));
        if lost > 0 {
            write_errors.push(format!(
                "clickhouse: {lost} flow rows lost (see the summary)"
            ));
        }
        if kept > 0 {
            eprintln!(
                "lanterne: clickhouse: {kept} flow rows wait in {} for the next run",
                cfg.spool_dir.display()
            );
        }
        st.to_json(&cfg)
    });
    let mut summary = summary_of(
        cat,
        &policy.sanctioned,
        policy.file.as_deref(),
        &agg,
        inputs,
        &stats,
        drops,
        &read_errors,
    );
    if let Some(c) = clickhouse {
        summary["clickhouse"] = c;
    }
    write_errors.extend(a.out.write(&summary, Some(cat)));
    if !a.quiet && !p.stdout_claimed {
        print!("{}", report::terminal_table_in(&summary, a.out.lang.into()));
    }
    if a.stats {
        eprint!(
            "{}",
            report::stats_report(latency.as_ref(), &agg, &stats, elapsed, &workers)
        );
    }
    for e in &write_errors {
        eprintln!("lanterne: {e}");
    }
    if !read_errors.is_empty() || !write_errors.is_empty() {
        return 1;
    }
    let shadow = summary["policy"]["shadow_services"].as_u64().unwrap_or(0);
    if a.fail_on == Some(FailOn::Unsanctioned) && shadow > 0 {
        eprintln!("lanterne: {shadow} unsanctioned AI service(s) in use (--fail-on unsanctioned)");
        return 3;
    }
    0
}

fn cmd_read(a: ReadArgs) -> Result<u8, Fail> {
    let threads = match a.threads {
        Some(0) => return Err(Fail::Usage("--threads must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut p = prepare(&a.an, threads, 0, false)?;
    open_streams(&a.an, &mut p)?;
    if a.files.iter().filter(|f| *f == "-").count() > 1 {
        return Err(Fail::Usage("stdin ('-') can be read only once".into()));
    }
    let show_progress = !a.an.quiet
        && match a.progress {
            When::Always => true,
            When::Never => false,
            When::Auto => io::stderr().is_terminal(),
        };
    let started = std::time::Instant::now();
    let run = pipeline::analyse(
        &a.files,
        pipeline::Workers {
            threads,
            chunk_bytes: a.chunk_bytes.unwrap_or(p.agg_opts.limits.chunk_bytes),
            max_record: p.agg_opts.limits.max_record,
        },
        &p.cfg,
        &p.catalog,
        p.agg_opts.clone(),
        p.facts_out.take(),
        show_progress,
        true,
    );
    let elapsed = started.elapsed().as_secs_f64();
    p.agg_opts.clickhouse = None;
    let ch = p.clickhouse.take();
    Ok(finish(
        &a.an,
        &p,
        ch,
        &p.catalog,
        &p.policy,
        run,
        &a.files,
        (0, 0),
        elapsed,
    ))
}

/// Set by SIGINT and SIGTERM: stop capturing, write everything, exit.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGHUP.
static HANGUP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

extern "C" fn on_hangup(_: libc::c_int) {
    HANGUP.store(true, Ordering::Relaxed);
}

/// SIGINT and SIGTERM stop the capture cleanly; SIGHUP reloads the catalog
/// and the policy (its default action would kill the process and lose the
/// counts).
fn install_signal_handlers() {
    let set = |sig: libc::c_int, f: extern "C" fn(libc::c_int), flags: libc::c_int| {
        // SAFETY: a zeroed sigaction with a handler that only stores to an
        // atomic (async-signal-safe); SA_RESTART keeps reads going.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = f as usize;
            sa.sa_flags = libc::SA_RESTART | flags;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    };
    // A second Ctrl-C or SIGTERM kills at once (SA_RESETHAND restores the
    // default action), should the final writes hang.
    set(libc::SIGINT, on_stop, libc::SA_RESETHAND);
    set(libc::SIGTERM, on_stop, libc::SA_RESETHAND);
    set(libc::SIGHUP, on_hangup, 0);
}

fn cmd_capture(a: CaptureArgs) -> Result<u8, Fail> {
    let outside = lanterne::capture::capture_memory(a.interfaces.len(), a.buffer_mb, a.snaplen);
    let mut p = prepare(&a.an, 1, outside, true)?;
    // The metrics export processing-latency percentiles.
    p.cfg.latency |= a.metrics.is_some();
    p.cfg.dedup_ns = a.dedup_ms.saturating_mul(1_000_000).min(i64::MAX as u64) as i64;
    let positive = |v: Option<f64>, what: &str| {
        v.map(|x| match std::time::Duration::try_from_secs_f64(x) {
            Ok(d) if x > 0.0 => Ok(d),
            _ => Err(Fail::Usage(format!(
                "{what} must be a positive number of seconds"
            ))),
        })
        .transpose()
    };
    let duration = positive(a.duration, "--duration")?;
    let interval = positive(a.interval, "--interval")?;
    if interval.is_some() && a.an.out.json.as_deref().map_or(true, |j| j == "-") {
        return Err(Fail::Usage("--interval needs --json FILE".into()));
    }
    if a.hourly && a.an.out.json.as_deref().map_or(true, |j| j == "-") {
        return Err(Fail::Usage("--hourly needs --json FILE".into()));
    }
    if a.rotate_seconds == 0 {
        return Err(Fail::Usage("--rotate-seconds must be positive".into()));
    }
    let opts = lanterne::source::live::LiveOptions {
        snaplen: a.snaplen,
        buffer_mb: a.buffer_mb,
        promisc: !a.no_promisc,
        immediate: a.immediate,
        bpf: a.bpf.clone(),
    };
    let mut lives = Vec::new();
    for (n, i) in a.interfaces.iter().enumerate() {
        if a.interfaces[..n].contains(i) {
            return Err(Fail::Usage(format!("interface {i} given twice")));
        }
        lives.push(lanterne::source::live::open(i, &opts).map_err(Fail::Runtime)?);
    }
    let expo = match &a.metrics {
        Some(addr) => {
            let (expo, local) = lanterne::metrics::serve(addr).map_err(Fail::Runtime)?;
            if !a.an.quiet {
                eprintln!("lanterne: metrics on http://{local}/metrics");
            }
            Some(expo)
        }
        None => None,
    };
    if let Some(user) = &a.user {
        let acct = lanterne::privileges::drop_to(user).map_err(Fail::Runtime)?;
        if !a.an.quiet {
            eprintln!("lanterne: running as {} (uid {})", acct.name, acct.uid);
        }
    }
    open_streams(&a.an, &mut p)?;
    install_signal_handlers();
    let facts_out = p.facts_out.take();
    let inputs: Vec<String> = a.interfaces.iter().map(|i| format!("live:{i}")).collect();
    let started = std::time::Instant::now();
    // A snapshot or an hourly file: the summary of a tick, written whole.
    let tick_summary = |t: &lanterne::capture::Tick<'_>| {
        summary_text(&summary_of(
            t.catalog,
            t.sanctioned,
            p.policy.file.as_deref(),
            t.agg,
            &inputs,
            t.stats,
            (t.drops.kernel, t.drops.interface),
            &t.interface_errors(),
        ))
    };
    let mut snapshot_errors = 0u64;
    let mut write_snapshot = |t: lanterne::capture::Tick<'_>| {
        let Some(path) = a.an.out.json.as_deref() else {
            return;
        };
        if let Err(e) = write_whole(path, tick_summary(&t).as_bytes()) {
            snapshot_errors += 1;
            if snapshot_errors == 1 {
                eprintln!("lanterne: snapshot: {e}");
            }
        }
    };
    let mut write_metrics = |t: lanterne::capture::Tick<'_>| {
        if let Some(e) = &expo {
            e.set(lanterne::metrics::render(&t, a.metrics_per_host));
        }
    };
    let period_ns = a
        .rotate_seconds
        .saturating_mul(1_000_000_000)
        .min(i64::MAX as u64) as i64;
    let mut write_period = |t: lanterne::capture::Tick<'_>, start: i64| {
        let Some(path) = a.an.out.json.as_deref() else {
            return;
        };
        let file = period_file(path, start, period_ns);
        if let Err(e) = write_whole(&file, tick_summary(&t).as_bytes()) {
            eprintln!("lanterne: --hourly: {e}");
        }
    };
    // SIGHUP: the catalog (built in or --signatures) and the policy file again.
    let mut reload = || -> Result<(Catalog, Policy), String> {
        let mut cat = load_catalog(&a.an.common).map_err(|e| match e {
            Fail::Usage(m) | Fail::Runtime(m) => m,
        })?;
        let policy = match &a.an.policy {
            Some(path) => Policy::load(path, &mut cat)?,
            None => Policy::default(),
        };
        Ok((cat, policy))
    };
    let live = lanterne::capture::run(
        lives,
        &p.cfg,
        &p.catalog,
        &p.policy.sanctioned,
        p.agg_opts.clone(),
        facts_out,
        lanterne::capture::Limits {
            duration,
            count: a.count,
        },
        &STOP,
        lanterne::capture::Periodic {
            snapshot: interval.map(|every| {
                (
                    every,
                    &mut write_snapshot as &mut dyn FnMut(lanterne::capture::Tick<'_>),
                )
            }),
            metrics: expo.as_ref().map(|_| {
                (
                    std::time::Duration::from_secs(1),
                    &mut write_metrics as &mut dyn FnMut(lanterne::capture::Tick<'_>),
                )
            }),
            hangup: Some(&HANGUP),
            reload: Some(&mut reload),
            rotate: a.hourly.then_some((
                period_ns,
                &mut write_period as &mut dyn FnMut(lanterne::capture::Tick<'_>, i64),
            )),
        },
    );
    let elapsed = started.elapsed().as_secs_f64();
    for e in &live.analysis.read_errors {
        eprintln!("lanterne: {e}");
    }
    if !a.an.quiet {
        let d = live.drops;
        eprintln!(
            "lanterne: {} frames received by the kernel filter, {} dropped by the kernel, {} by the interface, {} duplicates",
            d.received, d.kernel, d.interface, live.analysis.stats.duplicates
        );
    }
    p.agg_opts.clickhouse = None;
    let ch = p.clickhouse.take();
    let (cat, policy) = match &live.reloaded {
        Some((c, pol)) => (&**c, pol),
        None => (&p.catalog, &p.policy),
    };
    Ok(finish(
        &a.an,
        &p,
        ch,
        cat,
        policy,
        live.analysis,
        &inputs,
        (live.drops.kernel, live.drops.interface),
        elapsed,
    ))
}

/// `summary.json` → `summary.2026-11-26T14.json` for the hour starting at
/// `start` (UTC; minutes and seconds too when the period is not whole hours).
fn period_file(path: &str, start: i64, period_ns: i64) -> String {
    let t = report::rfc3339(start);
    let label = if period_ns % 3_600_000_000_000 == 0 {
        t[..13].to_string()
    } else {
        t[..19].replace(':', "-")
    };
    let p = Path::new(path);
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let name = match p.extension() {
        Some(ext) => format!("{stem}.{label}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{label}"),
    };
    p.with_file_name(name).display().to_string()
}

fn cmd_clickhouse(cmd: ChCmd) -> Result<u8, Fail> {
    match cmd {
        ChCmd::Schema {
            database,
            table_prefix,
            cluster,
        } => {
            let ok = lanterne::clickhouse::is_identifier;
            if !ok(&database)
                || !(table_prefix.is_empty() || ok(&table_prefix))
                || !cluster.as_deref().map_or(true, ok)
            {
                return Err(Fail::Usage("names: letters, digits and _ only".into()));
            }
            for stmt in lanterne::clickhouse::schema(&database, &table_prefix, cluster.as_deref()) {
                println!("{stmt};\n");
            }
        }
        ChCmd::Queries => print!("{}", lanterne::clickhouse::QUERIES),
    }
    Ok(0)
}

/// A summary file as JSON.
fn read_summary(p: &Path) -> Result<serde_json::Value, Fail> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| Fail::Runtime(format!("{}: cannot read: {e}", p.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Fail::Runtime(format!("{}: not JSON: {e}", p.display())))
}

fn cmd_report(a: ReportArgs) -> Result<u8, Fail> {
    let mut docs = Vec::new();
    for p in &a.summaries {
        docs.push(read_summary(p)?);
    }
    let merged = lanterne::merge::merge_all(&docs).map_err(Fail::Runtime)?;
    // (The catalog only gives the HTML report its data-use facts.)
    let cat = a
        .out
        .html
        .as_ref()
        .map(|_| load_catalog(&a.common))
        .transpose()?;
    let errors = a.out.write(&merged, cat.as_ref());
    if !a.quiet && !a.out.claims_stdout() {
        print!("{}", report::terminal_table_in(&merged, a.out.lang.into()));
    }
    for e in &errors {
        eprintln!("lanterne: {e}");
    }
    Ok(u8::from(!errors.is_empty()))
}

fn cmd_signatures(cmd: SigCmd) -> Result<u8, Fail> {
    match cmd {
        SigCmd::List { common, format } => {
            let cat = load_catalog(&common)?;
            let mut out = String::new();
            match format {
                Format::Json => {
                    let v: Vec<_> = cat
                        .services
                        .iter()
                        .map(|s| {
                            serde_json::json!({"id": s.id, "name": s.name, "vendor": s.vendor,
                                "category": s.category, "country": s.country, "domains": s.domains,
                                "cidrs": s.cidrs, "notes": s.notes, "source": s.source,
                                "trains_on_inputs": s.trains_on_inputs, "retention": s.retention,
                                "enterprise_offer": s.enterprise_offer,
                                "risk": lanterne::risk::level(s).as_str()})
                        })
                        .collect();
                    out = serde_json::to_string_pretty(&v).expect("json");
                    out.push('\n');
                }
                Format::Csv => {
                    out.push_str(
                        "id,name,vendor,category,country,risk,trains_on_inputs,retention,enterprise_offer,domains,cidrs,source\r\n",
                    );
                    for s in &cat.services {
                        let row = [
                            s.id.clone(),
                            s.name.clone(),
                            s.vendor.clone(),
                            s.category.clone(),
                            s.country.clone(),
                            lanterne::risk::level(s).as_str().to_string(),
                            s.trains_on_inputs.clone().unwrap_or_default(),
                            s.retention.clone().unwrap_or_default(),
                            s.enterprise_offer
                                .map(|b| b.to_string())
                                .unwrap_or_default(),
                            s.domains.join(" "),
                            s.cidrs.join(" "),
                            s.source.clone().unwrap_or_default(),
                        ];
                        out.push_str(&report::csv_row(&row));
                    }
                }
                Format::Table => {
                    out.push_str(&format!(
                        "{:<24} {:<26} {:<20} {:<12} {:<3} {:<7} DOMAINS\n",
                        "ID", "NAME", "VENDOR", "CATEGORY", "CC", "RISK"
                    ));
                    for s in &cat.services {
                        out.push_str(&format!(
                            "{:<24} {:<26} {:<20} {:<12} {:<3} {:<7} {}\n",
                            s.id,
                            s.name,
                            s.vendor,
                            s.category,
                            s.country,
                            lanterne::risk::level(s).as_str(),
                            s.domains.join(" ")
                        ));
                    }
                    out.push_str(&format!(
                        "{} services, catalog {}\n",
                        cat.services.len(),
                        cat.version()
                    ));
                }
            }
            print!("{out}");
            Ok(0)
        }
        SigCmd::Check { common } => {
            let cat = match &common.signatures {
                None => Catalog::builtin(),
                Some(p) => Catalog::load(p).map_err(Fail::Runtime)?,
            };
            for w in &cat.warnings {
                println!("warning: {w}");
            }
            for p in &cat.problems {
                println!("error: {p}");
            }
            let known = cat
                .services
                .iter()
                .filter(|s| matches!(s.trains_on_inputs.as_deref(), Some(v) if v != "unknown"))
                .count();
            println!(
                "data-use facts: trains_on_inputs known for {known} of {} services ({}%)",
                cat.services.len(),
                (known * 100).checked_div(cat.services.len()).unwrap_or(0)
            );
            println!(
                "{} services, {} patterns, {} CIDR-bearing services: {} error(s), {} warning(s)",
                cat.services.len(),
                cat.patterns.len(),
                cat.services.iter().filter(|s| !s.cidrs.is_empty()).count(),
                cat.problems.len(),
                cat.warnings.len()
            );
            Ok(if cat.problems.is_empty() { 0 } else { 1 })
        }
        SigCmd::Match {
            common,
            format,
            names,
        } => {
            let cat = load_catalog(&common)?;
            let mut any = false;
            let mut out = String::new();
            if format == Format::Csv {
                out.push_str("name,service,vendor,category,pattern,candidate\r\n");
            }
            for n in &names {
                let m = cat.match_name(n);
                any |= m.is_some();
                let s = m.map(|m| cat.service(m.service));
                let pattern = m.map(|m| cat.pattern(m));
                let clue = match m {
                    Some(_) => None,
                    None => lanterne::candidates::clue(&cat, n),
                };
                match format {
                    Format::Json => {
                        let v = serde_json::json!({"name": n, "service": s.map(|s| &s.id),
                            "vendor": s.map(|s| &s.vendor), "category": s.map(|s| &s.category),
                            "pattern": pattern, "candidate": clue});
                        out.push_str(&format!("{v}\n"));
                    }
                    Format::Csv => {
                        let row = [
                            n.as_str(),
                            s.map_or("", |s| &s.id),
                            s.map_or("", |s| &s.vendor),
                            s.map_or("", |s| &s.category),
                            pattern.unwrap_or(""),
                            clue.unwrap_or(""),
                        ];
                        out.push_str(&report::csv_row(&row));
                    }
                    Format::Table => match (s, clue) {
                        (Some(s), _) => out.push_str(&format!(
                            "{n}\t{}\t{}\t{}\t{}\n",
                            s.id,
                            s.vendor,
                            s.category,
                            pattern.unwrap_or("")
                        )),
                        (None, Some(c)) => {
                            out.push_str(&format!("{n}\tno match\tcandidate: {c}\n"))
                        }
                        (None, None) => out.push_str(&format!("{n}\tno match\n")),
                    },
                }
            }
            print!("{out}");
            Ok(if any { 0 } else { 1 })
        }
        SigCmd::Suggest { common, summaries } => {
            let cat = load_catalog(&common)?;
            let mut docs = Vec::new();
            for p in &summaries {
                let doc = read_summary(p)?;
                if doc["schema"] != report::SCHEMA {
                    return Err(Fail::Runtime(format!(
                        "{}: not a {} document",
                        p.display(),
                        report::SCHEMA
                    )));
                }
                docs.push((p.display().to_string(), doc));
            }
            print!("{}", lanterne::suggest::suggest(&docs, &cat));
            Ok(0)
        }
        SigCmd::Diff {
            common,
            list_format,
            all,
            format,
            lists,
        } => {
            let cat = load_catalog(&common)?;
            let mut out = String::new();
            if format == Format::Csv {
                out.push_str("status,name,kind,list,line,service,missing,candidate\r\n");
            }
            let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
            for p in &lists {
                let text = std::fs::read(p)
                    .map_err(|e| Fail::Runtime(format!("{}: cannot read: {e}", p.display())))?;
                let text = String::from_utf8_lossy(&text);
                let list = lanterne::hostlists::parse(&text, list_format);
                *counts.entry("skipped").or_default() += list.skipped;
                for r in &list.rules {
                    let cov = lanterne::hostlists::coverage(&cat, r);
                    *counts.entry(cov.status()).or_default() += 1;
                    if !all && matches!(cov, lanterne::hostlists::Coverage::Covered(_)) {
                        continue;
                    }
                    let (service, missing) = match &cov {
                        lanterne::hostlists::Coverage::Covered(s) => (s.as_str(), ""),
                        lanterne::hostlists::Coverage::Partial(s, m) => (s.as_str(), *m),
                        _ => ("", ""),
                    };
                    let clue = match cov {
                        lanterne::hostlists::Coverage::Missing => {
                            lanterne::candidates::clue(&cat, &r.value)
                        }
                        _ => None,
                    };
                    let list_name = p.display().to_string();
                    match format {
                        Format::Json => {
                            let v = serde_json::json!({"status": cov.status(), "name": r.value,
                                "kind": r.kind.as_str(), "list": list_name, "line": r.line,
                                "service": (!service.is_empty()).then_some(service),
                                "missing": (!missing.is_empty()).then_some(missing),
                                "candidate": clue});
                            out.push_str(&format!("{v}\n"));
                        }
                        Format::Csv => {
                            let line = r.line.to_string();
                            let row = [
                                cov.status(),
                                &r.value,
                                r.kind.as_str(),
                                &list_name,
                                &line,
                                service,
                                missing,
                                clue.unwrap_or(""),
                            ];
                            out.push_str(&report::csv_row(&row));
                        }
                        Format::Table => {
                            let mut l = format!(
                                "{:<14} {:<44} {:<10} {}:{}",
                                cov.status(),
                                r.value,
                                r.kind.as_str(),
                                list_name,
                                r.line
                            );
                            if !service.is_empty() {
                                l.push_str(&format!("  {service}"));
                            }
                            if !missing.is_empty() {
                                l.push_str(&format!(" (not: {missing})"));
                            }
                            if let Some(c) = clue {
                                l.push_str(&format!("  candidate: {c}"));
                            }
                            out.push_str(&l);
                            out.push('\n');
                        }
                    }
                }
            }
            print!("{out}");
            let n = |k: &str| counts.get(k).copied().unwrap_or(0);
            eprintln!(
                "{} rules: {} covered, {} partial, {} missing, {} not comparable (keywords, expressions); {} lines not host rules",
                n("covered") + n("partial") + n("missing") + n("not-comparable"),
                n("covered"),
                n("partial"),
                n("missing"),
                n("not-comparable"),
                n("skipped")
            );
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_files_are_named_after_their_start() {
        let h = 3_600_000_000_000;
        let t = 1_764_165_600_000_000_000; // 2025-11-26T14:00:00Z
        assert_eq!(
            period_file("/var/lib/l/summary.json", t, h),
            "/var/lib/l/summary.2025-11-26T14.json"
        );
        assert_eq!(
            period_file("out", t + 2_000_000_000, 2_000_000_000),
            "out.2025-11-26T14-00-02"
        );
    }

    /// The option index really is `purge_delay`: read before any set, it has
    /// purge_delay's default (10 ms), and its neighbours theirs
    /// (eager_commit_delay 1, use_numa_nodes 0).
    #[test]
    fn mimalloc_purge_delay_index() {
        // SAFETY: reading allocator options.
        let get = |o| unsafe { libmimalloc_sys::mi_option_get(o) };
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 10);
        assert_eq!(get(MI_OPTION_PURGE_DELAY - 1), 1);
        assert_eq!(get(MI_OPTION_PURGE_DELAY + 1), 0);
    }
}
