//! `--pseudonymize` and `--host-prefix`: no internal address is left in any
//! output, the same key gives the same tokens everywhere, and counting per
//! subnet adds up to counting per host.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Every output of one `read`, as text: summary, CSV, events (all flows),
/// facts and the terminal table.
struct Outputs {
    summary: Value,
    texts: Vec<(&'static str, String)>,
    events: Vec<Value>,
    csv: String,
}

fn outputs(pcap: &Path, dir: &Path, name: &str, extra: &[&str]) -> Outputs {
    let f = |ext: &str| dir.join(format!("{name}.{ext}"));
    let (json, csv, ev, facts) = (f("json"), f("csv"), f("events"), f("facts"));
    let mut args = vec![
        "read",
        pcap.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--events",
        ev.to_str().unwrap(),
        "--events-all",
        "--facts",
        facts.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_exit(&o, 0);
    let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap();
    Outputs {
        summary: read_json(&json),
        events: read_ndjson(&ev),
        csv: read(&csv),
        texts: vec![
            ("summary", read(&json)),
            ("csv", read(&csv)),
            ("events", read(&ev)),
            ("facts", read(&facts)),
            ("terminal", String::from_utf8_lossy(&o.stdout).to_string()),
        ],
    }
}

/// The internal addresses a plain run shows: clients and internal servers of
/// every flow.
fn internal_addresses(plain: &Outputs) -> BTreeSet<String> {
    plain
        .events
        .iter()
        .filter(|e| e["internal"] == true)
        .map(|e| e["client"].as_str().unwrap().to_string())
        .collect()
}

fn hosts(s: &Value) -> BTreeSet<String> {
    s["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pseudonymized_outputs_hold_no_internal_address() {
    let dir = scratch("privacy");
    let Some(pcap) = generate(
        &dir,
        "p.pcap",
        &["--flows", "800", "--seed", "21", "--modern"],
    ) else {
        return;
    };
    let plain = outputs(&pcap, &dir, "plain", &[]);
    let addrs = internal_addresses(&plain);
    assert!(addrs.len() > 50, "{}", addrs.len());
    assert!(addrs.iter().any(|a| a.contains(':')), "IPv6 hosts too");
    let key = dir.join("key");
    std::fs::write(&key, "s3cret\n").unwrap();
    let key_arg = format!("@{}", key.display());
    let p1 = outputs(&pcap, &dir, "p1", &["--pseudonymize", "s3cret"]);
    for (what, text) in &p1.texts {
        for a in &addrs {
            // (Whole addresses: "10.20.1.2" must not match inside "10.20.1.23".)
            let found = text.match_indices(a.as_str()).any(|(i, _)| {
                let next = text[i + a.len()..].chars().next();
                !next.is_some_and(|c| c.is_ascii_hexdigit() || c == '.' || c == ':')
            });
            assert!(!found, "{a} left in the {what}");
        }
    }
    // Tokens everywhere, the same ones: summary, CSV, events.
    let tokens = hosts(&p1.summary);
    assert_eq!(tokens.len(), hosts(&plain.summary).len());
    assert!(
        tokens
            .iter()
            .all(|t| t.starts_with("host-") && t.len() == 25),
        "{tokens:?}"
    );
    let csv_hosts: BTreeSet<String> = p1
        .csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(csv_hosts, tokens);
    let event_clients: BTreeSet<String> = p1
        .events
        .iter()
        .filter(|e| e["service"].is_string() && e["internal"] == true)
        .map(|e| e["client"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(event_clients, tokens);
    // Same key (here from a file): same tokens; another key: others.
    let p2 = outputs(&pcap, &dir, "p2", &["--pseudonymize", &key_arg]);
    assert_eq!(p2.summary["hosts"], p1.summary["hosts"]);
    let p3 = outputs(&pcap, &dir, "p3", &["--pseudonymize", "other"]);
    assert!(hosts(&p3.summary).is_disjoint(&tokens));
    // Nothing else changes.
    assert_eq!(p1.summary["services"], plain.summary["services"]);
    assert_eq!(p1.summary["capture"], plain.summary["capture"]);
}

#[test]
fn host_prefix_counts_per_subnet() {
    let dir = scratch("prefix");
    let Some(pcap) = generate(
        &dir,
        "s.pcap",
        &["--flows", "800", "--seed", "22", "--modern"],
    ) else {
        return;
    };
    let plain = outputs(&pcap, &dir, "plain", &[]);
    let nets = outputs(&pcap, &dir, "nets", &["--host-prefix", "24"]);
    let subnets = hosts(&nets.summary);
    assert!(
        subnets
            .iter()
            .all(|h| h.ends_with("/24") || h.ends_with("/64")),
        "{subnets:?}"
    );
    // Each host falls in exactly one of them.
    let expect: BTreeSet<String> = hosts(&plain.summary)
        .iter()
        .map(|h| match h.parse::<std::net::IpAddr>().unwrap() {
            std::net::IpAddr::V4(a) => {
                let o = a.octets();
                format!("{}.{}.{}.0/24", o[0], o[1], o[2])
            }
            std::net::IpAddr::V6(a) => {
                let s = a.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        })
        .collect();
    assert_eq!(subnets, expect);
    assert!(subnets.len() < hosts(&plain.summary).len());
    let sum = |s: &Value, k: &str| -> u64 {
        s["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h[k].as_u64().unwrap())
            .sum()
    };
    // (Not `all_flows`: a subnet's counts its hosts without AI use too.)
    for k in ["flows", "bytes_up", "bytes_down"] {
        assert_eq!(sum(&nets.summary, k), sum(&plain.summary, k), "{k}");
    }
    // A service's "hosts" are now subnets.
    for (s, p) in nets.summary["services"]
        .as_array()
        .unwrap()
        .iter()
        .zip(plain.summary["services"].as_array().unwrap())
    {
        assert_eq!(s["flows"], p["flows"]);
        assert!(s["hosts"].as_u64() <= p["hosts"].as_u64());
    }
    // With a key too: tokens of the subnets.
    let both = outputs(
        &pcap,
        &dir,
        "both",
        &["--host-prefix", "24,64", "--pseudonymize", "k"],
    );
    assert_eq!(hosts(&both.summary).len(), subnets.len());
    assert!(hosts(&both.summary).iter().all(|t| t.starts_with("host-")));
    let o = run(&[
        "read",
        "-q",
        pcap.to_str().unwrap(),
        "--host-prefix",
        "24,64,8",
    ]);
    assert_exit(&o, 2);
}
