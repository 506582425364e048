//! The `lanterne` command line (see DESIGN.md "Command line").

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    /// Inspect the AI-service catalog.
    Signatures {
        #[command(subcommand)]
        cmd: SigCmd,
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
    /// Write the summary JSON (lanterne.summary/1) to FILE, '-' for stdout.
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    /// Write one CSV row per host × service.
    #[arg(long, value_name = "FILE")]
    csv: Option<String>,
    /// Write one NDJSON line per ended flow to an AI service ('-' for stdout).
    #[arg(long, value_name = "FILE")]
    events: Option<String>,
    /// With --events: every flow, AI or not.
    #[arg(long)]
    events_all: bool,
    /// Write one NDJSON line per extracted fact (SNI, DNS, HTTP Host), '-' for stdout.
    #[arg(long, value_name = "FILE")]
    facts: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Size of the read chunks shared by the workers (tuning and tests).
    #[arg(long, value_name = "BYTES", hide = true, default_value_t = pipeline::CHUNK_BYTES)]
    chunk_bytes: usize,
    /// Hard cap on flows tracked at once (the oldest idle one is evicted, counted).
    #[arg(long, default_value_t = 1 << 20, value_name = "N")]
    max_flows: usize,
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
    /// Progress bar on stderr: auto (when stderr is a terminal), always, never.
    #[arg(long, value_enum, default_value_t = When::Auto)]
    progress: When,
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
    /// Show which service each name matches (exit 1 if none matched).
    Match {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
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
        Cmd::Signatures { cmd } => cmd_signatures(cmd),
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
        File::create(path)
            .map(|f| Box::new(f) as Box<dyn Write + Send>)
            .map_err(|e| Fail::Runtime(format!("{path}: cannot create: {e}")))
    }
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
    std::fs::write(&tmp, content)
        .and_then(|_| std::fs::rename(&tmp, p))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("{path}: cannot write: {e}")
        })
}

fn cmd_read(a: ReadArgs) -> Result<u8, Fail> {
    let mut catalog = load_catalog(&a.common)?;
    let policy = match &a.policy {
        Some(p) => Policy::load(p, &mut catalog).map_err(Fail::Usage)?,
        None => Policy::default(),
    };
    let catalog = catalog;
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
    if a.files.iter().filter(|f| *f == "-").count() > 1 {
        return Err(Fail::Usage("stdin ('-') can be read only once".into()));
    }
    if a.max_flows == 0 || a.bucket_seconds == 0 {
        return Err(Fail::Usage(
            "--max-flows and --bucket-seconds must be positive".into(),
        ));
    }
    let to_stdout = [&a.json, &a.events, &a.facts]
        .iter()
        .filter(|o| o.as_deref() == Some("-"))
        .count();
    let stdout_claimed = to_stdout > 0;
    if to_stdout > 1 {
        return Err(Fail::Usage(
            "only one of --json, --events, --facts can write to stdout".into(),
        ));
    }
    let cfg = Config {
        tcp_timeout_ns: a.tcp_timeout as i64 * 1_000_000_000,
        udp_timeout_ns: a.udp_timeout as i64 * 1_000_000_000,
        max_flows: a.max_flows,
        dns_grace_ns: a.dns_grace as i64 * 1_000_000_000,
        bucket_ns: a.bucket_seconds as i64 * 1_000_000_000,
        fingerprints: a.events.is_some(),
        latency: a.stats,
        ..Config::default()
    };
    let facts_out = a.facts.as_deref().map(open_out).transpose()?;
    let events = a
        .events
        .as_deref()
        .map(open_out)
        .transpose()?
        .map(report::shared_writer);
    let agg_opts = AggOptions {
        internal,
        bucket_seconds: a.bucket_seconds,
        events,
        events_all: a.events_all,
        distributions: a.stats,
    };
    let show_progress = !a.quiet
        && match a.progress {
            When::Always => true,
            When::Never => false,
            When::Auto => io::stderr().is_terminal(),
        };
    let threads = match a.threads {
        Some(0) => return Err(Fail::Usage("--threads must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut write_errors = Vec::new();
    let started = std::time::Instant::now();
    let run = pipeline::analyse(
        &a.files,
        pipeline::Workers {
            threads,
            chunk_bytes: a.chunk_bytes,
        },
        &cfg,
        &catalog,
        agg_opts,
        facts_out,
        show_progress,
        true,
    );
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
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(e) = agg.finish_events() {
        write_errors.push(format!("--events: {e}"));
    }
    let sanctioned = policy.sanctioned.clone();
    let summary = agg.summary(&SummaryInput {
        inputs: &a.files,
        stats: &stats,
        catalog: &catalog,
        sanctioned: &sanctioned,
        policy_file: policy.file.as_deref(),
        drops_kernel: 0,
        drops_interface: 0,
        read_errors: &read_errors,
    });
    if let Some(j) = &a.json {
        let mut text = serde_json::to_string_pretty(&summary).expect("summary serialises");
        text.push('\n');
        if let Err(e) = write_whole(j, text.as_bytes()) {
            write_errors.push(e);
        }
    }
    if let Some(c) = &a.csv {
        if let Err(e) = write_whole(c, agg.csv(&catalog, &sanctioned).as_bytes()) {
            write_errors.push(e);
        }
    }
    if !a.quiet && !stdout_claimed {
        print!("{}", report::terminal_table(&summary));
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
        return Ok(1);
    }
    let shadow = summary["policy"]["shadow_services"].as_u64().unwrap_or(0);
    if a.fail_on == Some(FailOn::Unsanctioned) && shadow > 0 {
        eprintln!("lanterne: {shadow} unsanctioned AI service(s) in use (--fail-on unsanctioned)");
        return Ok(3);
    }
    Ok(0)
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
                        let row: Vec<String> = row.iter().map(|f| report::csv_field(f)).collect();
                        out.push_str(&row.join(","));
                        out.push_str("\r\n");
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
            for n in &names {
                let m = cat.match_name(n);
                any |= m.is_some();
                match format {
                    Format::Json => {
                        let v = match m {
                            Some(m) => {
                                let s = cat.service(m.service);
                                serde_json::json!({"name": n, "service": s.id, "vendor": s.vendor,
                                    "category": s.category, "pattern": cat.pattern(m)})
                            }
                            None => serde_json::json!({"name": n, "service": null, "vendor": null,
                                "category": null, "pattern": null}),
                        };
                        println!("{v}");
                    }
                    _ => match m {
                        Some(m) => {
                            let s = cat.service(m.service);
                            println!(
                                "{n}\t{}\t{}\t{}\t{}",
                                s.id,
                                s.vendor,
                                s.category,
                                cat.pattern(m)
                            );
                        }
                        None => println!("{n}\tno match"),
                    },
                }
            }
            Ok(if any { 0 } else { 1 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
