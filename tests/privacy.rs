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

/// A classic pcap of Ethernet frames, one per millisecond.
fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&1_767_225_600u32.to_le_bytes());
        out.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// A DNS message: one question, and one PTR answer when `answer` is given.
fn dns(id: u16, qname: &str, qtype: u16, answer: Option<&str>) -> Vec<u8> {
    let wire = |n: &str| {
        let mut v = Vec::new();
        for l in n.split('.') {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v
    };
    let flags: u16 = if answer.is_some() { 0x8180 } else { 0x0100 };
    let mut m = Vec::new();
    for x in [id, flags, 1, u16::from(answer.is_some()), 0, 0] {
        m.extend_from_slice(&x.to_be_bytes());
    }
    m.extend_from_slice(&wire(qname));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    if let Some(a) = answer {
        m.extend_from_slice(&[0xc0, 12]);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&60u32.to_be_bytes());
        let rd = wire(a);
        m.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        m.extend_from_slice(&rd);
    }
    m
}

/// Internal addresses written as names: an HTTP Host that is an address
/// (with a port), an IP-literal SNI, and reverse lookups (PTR) of internal
/// addresses. Pseudonymised, none of them shows in any output.
#[test]
fn internal_addresses_written_as_names_are_hidden_too() {
    use lanterne::testutil::{eth_ipv4_tcp, eth_ipv4_udp};
    let dir = scratch("privacy-names");
    let (pc, printer, resolver) = ([10, 20, 4, 9], [10, 20, 4, 7], [10, 20, 0, 53]);
    let mut frames = vec![
        eth_ipv4_udp(
            pc,
            resolver,
            40000,
            53,
            &dns(1, "7.4.20.10.in-addr.arpa", 12, None),
        ),
        eth_ipv4_udp(
            resolver,
            pc,
            53,
            40000,
            &dns(
                1,
                "7.4.20.10.in-addr.arpa",
                12,
                Some("printer.corp.example"),
            ),
        ),
        eth_ipv4_tcp(pc, printer, 50000, 8080, 100, 0x02, b""),
        eth_ipv4_tcp(printer, pc, 8080, 50000, 900, 0x12, b""),
        eth_ipv4_tcp(pc, printer, 50000, 8080, 101, 0x10, b""),
        eth_ipv4_tcp(
            pc,
            printer,
            50000,
            8080,
            101,
            0x18,
            b"GET / HTTP/1.1\r\nHost: 10.20.4.7:8080\r\n\r\n",
        ),
    ];
    // A ClientHello whose SNI is an internal address.
    let hello = lanterne::proto::tls::build_client_hello(Some("10.20.4.7"), &["h2"], false, 0);
    frames.push(eth_ipv4_tcp(pc, printer, 50001, 443, 200, 0x02, b""));
    frames.push(eth_ipv4_tcp(printer, pc, 443, 50001, 700, 0x12, b""));
    frames.push(eth_ipv4_tcp(pc, printer, 50001, 443, 201, 0x18, &hello));
    let pcap = dir.join("names.pcap");
    write_pcap(&pcap, &frames);
    let plain = outputs(&pcap, &dir, "plain", &[]);
    let facts = &plain.texts.iter().find(|(w, _)| *w == "facts").unwrap().1;
    assert!(
        facts.contains("7.4.20.10.in-addr.arpa") && facts.contains("10.20.4.7:8080"),
        "{facts}"
    );
    let hidden = outputs(&pcap, &dir, "hidden", &["--pseudonymize", "k"]);
    for (what, text) in &hidden.texts {
        for leak in [
            "10.20.4.7",
            "10.20.4.9",
            "10.20.0.53",
            "7.4.20.10.in-addr.arpa",
        ] {
            assert!(!text.contains(leak), "{leak} in the {what}:\n{text}");
        }
    }
    let facts = &hidden.texts.iter().find(|(w, _)| *w == "facts").unwrap().1;
    assert!(
        facts.contains("\"name\":\"host-") && facts.contains(".in-addr.arpa"),
        "{facts}"
    );
}

/// Summaries that show hosts differently do not merge.
#[test]
fn summaries_with_different_host_views_do_not_merge() {
    let dir = scratch("privacy-merge");
    let pcap = data("corpus/pcap/ai__chatgpt-browser_frames-0001-0500.pcapng");
    let a = summary_of(&[&pcap], &[], &dir, "a");
    let b = summary_of(&[&pcap], &["--pseudonymize", "k1"], &dir, "b");
    let c = summary_of(&[&pcap], &["--pseudonymize", "k2"], &dir, "c");
    assert!(lanterne::merge::merge(&a, &b)
        .unwrap_err()
        .contains("same --pseudonymize key"));
    assert!(lanterne::merge::merge(&b, &c).is_err());
    assert!(lanterne::merge::merge(&b, &b).is_ok());
}
