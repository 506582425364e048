//! Hostile traffic: a synthetic attack mix (SYN flood from spoofed internal
//! sources, endless ClientHellos, DNS answer floods, QUIC Initial floods,
//! fragment storms; `lanterne::testutil::attack_pcap`) read under a small
//! `--max-memory`. Every packet is counted, every cap's work is counted,
//! the legitimate AI use in between is still reported, and the process's
//! peak resident memory stays under the budget.

mod common;

use std::process::{Command, Stdio};

use common::*;
use lanterne::testutil::{attack_pcap, AttackMix, AttackTruth};

/// Runs lanterne and returns its exit code and peak RSS in bytes (from
/// `wait4`, for this child only: `Child::wait` does not give it).
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str]) -> (i32, u64, String) {
    let child = Command::new(bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lanterne");
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let err = reader.join().unwrap();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // ru_maxrss is in KiB on Linux. (It is a high-water mark that Linux
    // carries across exec: it includes what this test process held when it
    // spawned the child, so the bound checked is, if anything, too strict.)
    (code, usage.ru_maxrss as u64 * 1024, err)
}

fn attack(dir: &std::path::Path) -> (std::path::PathBuf, AttackTruth) {
    let path = dir.join("attack.pcap");
    let f = std::fs::File::create(&path).unwrap();
    let truth = attack_pcap(&AttackMix::scaled(1), f).unwrap();
    (path, truth)
}

fn check(threads: &str) {
    let dir = scratch(&format!("stress-{threads}"));
    let (pcap, truth) = attack(&dir);
    let json = dir.join("s.json");
    let budget: u64 = 64 << 20;
    let (code, rss, err) = run_measured(&[
        "read",
        "-q",
        pcap.to_str().unwrap(),
        "--max-memory",
        "64M",
        "--threads",
        threads,
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let s = read_json(&json);
    let c = &s["capture"];
    let n = |v: &serde_json::Value| v.as_u64().unwrap();
    // Every packet and flow counted.
    assert_eq!(n(&c["packets"]), truth.packets);
    assert_eq!(n(&c["flows"]), truth.flows);
    assert_eq!(n(&c["fragments"]), truth.fragments);
    assert!(c["undecodable"]
        .as_object()
        .unwrap()
        .values()
        .all(|v| v == 0));
    // Every cap worked, and says so.
    let l = &c["limits"];
    assert_eq!(n(&l["max_memory"]), budget);
    let max_flows = n(&l["max_flows"]);
    assert!(max_flows > 10_000 && max_flows < 30_000, "{max_flows}");
    // Flows end by eviction only, apart from those open at the end.
    assert!(n(&l["evicted_flows"]) >= truth.flows - max_flows, "{l}");
    assert_eq!(n(&l["evicted_flows"]), n(&c["evicted_flows"]));
    assert!(n(&l["reassembly_dropped"]) > 0, "{l}");
    let evicted_names = n(&l["dns_cache_evictions"]);
    assert!(evicted_names > 0 && evicted_names < truth.dns_names, "{l}");
    assert!(n(&l["untracked_host_flows"]) > 0, "{l}");
    // The fragment storm: every fragment counted, none completes a datagram.
    assert!(n(&l["defrag_dropped"]) > 0, "{l}");
    assert_eq!(n(&c["reassembled_datagrams"]), 0);
    let hosts = s["hosts"].as_array().unwrap().len() + s["other_hosts"].as_array().unwrap().len();
    assert!(hosts as u64 <= n(&l["max_hosts"]), "{hosts}");
    // The real use in between is all there.
    let svc = &s["services"][0];
    assert_eq!(s["services"].as_array().unwrap().len(), 1);
    assert_eq!((svc["id"].as_str(), n(&svc["flows"])), (Some("chatgpt"), 6));
    let h = &s["hosts"][0];
    assert_eq!((h["host"].as_str(), n(&h["flows"])), (Some("10.0.0.5"), 6));
    // Within the budget, the whole process.
    assert!(rss <= budget, "peak RSS {} MiB over 64 MiB", rss >> 20);
}

#[test]
fn attack_mix_one_worker_stays_within_max_memory() {
    check("1");
}

#[test]
fn attack_mix_two_workers_stay_within_max_memory() {
    check("2");
}

/// The QUIC decryption budget is a rate in capture time: 60 000 new
/// connections in 0.1 s of capture are over it, and the excess is counted.
#[test]
fn quic_flood_over_the_decryption_budget_is_counted() {
    let dir = scratch("stress-quic");
    let path = dir.join("quic.pcap");
    let mix = AttackMix {
        syn_flood: 0,
        partial_hellos: 0,
        dns_messages: 0,
        fragments: 0,
        quic_initials: 60_000,
        spread_us: 100_000,
        ..AttackMix::scaled(1)
    };
    let truth = attack_pcap(&mix, std::fs::File::create(&path).unwrap()).unwrap();
    let json = dir.join("s.json");
    let o = run(&[
        "read",
        "-q",
        path.to_str().unwrap(),
        "--threads",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let s = read_json(&json);
    let skipped = s["capture"]["limits"]["quic_decryptions_skipped"]
        .as_u64()
        .unwrap();
    // 50 000 to start with, and 50 000/s over the 0.1 s the flood lasts:
    // about 55 000 are decrypted, 5 000 are not.
    assert!((4_900..=5_100).contains(&skipped), "{skipped}");
    assert_eq!(s["capture"]["flows"].as_u64(), Some(truth.flows));
    assert_eq!(s["services"][0]["flows"].as_u64(), Some(6));
}

/// Facts stream out as they are found, with several workers too: a DNS
/// answer flood gives 120 MB of facts, and the process stays within 64 MiB.
#[test]
fn facts_of_a_dns_flood_stream_out_within_max_memory() {
    let dir = scratch("stress-facts");
    let path = dir.join("dns.pcap");
    let mix = AttackMix {
        syn_flood: 0,
        partial_hellos: 0,
        quic_initials: 0,
        fragments: 0,
        ..AttackMix::scaled(1)
    };
    let truth = attack_pcap(&mix, std::fs::File::create(&path).unwrap()).unwrap();
    let facts = dir.join("facts.ndjson");
    let (code, rss, err) = run_measured(&[
        "read",
        "-q",
        path.to_str().unwrap(),
        "--max-memory",
        "64M",
        "--threads",
        "2",
        "--facts",
        facts.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let lines = read_ndjson(&facts);
    let kinds = |k: &str| lines.iter().filter(|l| l["kind"] == k).count() as u64;
    assert_eq!(kinds("dns_answer"), truth.dns_names);
    assert_eq!(kinds("dns_query"), u64::from(mix.dns_messages));
    assert_eq!(kinds("tls_sni"), truth.legit_flows);
    let frames: Vec<u64> = lines.iter().map(|l| l["frame"].as_u64().unwrap()).collect();
    assert!(frames.windows(2).all(|w| w[0] <= w[1]), "frame order");
    assert!(std::fs::metadata(&facts).unwrap().len() > 100 << 20);
    assert!(rss <= 64 << 20, "peak RSS {} MiB over 64 MiB", rss >> 20);
}
