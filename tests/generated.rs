//! Generated traffic (tests/tools/gen_bench_pcap.py) with a ground-truth
//! sidecar: per AI domain and per internal host, flows, bytes_up and
//! bytes_down (IP-layer) must equal the truth exactly.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct C {
    flows: u64,
    up: u64,
    down: u64,
}

fn truth_tables(t: &serde_json::Value) -> (BTreeMap<String, C>, BTreeMap<String, C>) {
    let mut dom = BTreeMap::new();
    let mut host: BTreeMap<String, C> = BTreeMap::new();
    for (_, s) in t["ai_services"].as_object().unwrap() {
        for (d, v) in s["domains"].as_object().unwrap() {
            dom.insert(
                d.clone(),
                C {
                    flows: v["flows"].as_u64().unwrap(),
                    up: v["ip_bytes_up"].as_u64().unwrap(),
                    down: v["ip_bytes_down"].as_u64().unwrap(),
                },
            );
        }
        for (h, v) in s["hosts"].as_object().unwrap() {
            let e = host.entry(h.clone()).or_default();
            e.flows += v["flows"].as_u64().unwrap();
            e.up += v["ip_bytes_up"].as_u64().unwrap();
            e.down += v["ip_bytes_down"].as_u64().unwrap();
        }
    }
    (dom, host)
}

fn check(pcap: &Path, out: &Path) -> serde_json::Value {
    let truth = truth_of(pcap);
    if truth["totals"]["flows_quic"].as_u64().unwrap_or(0) > 0 {
        assert_eq!(
            truth["quic_initials_decryptable"], true,
            "the generator needs the Python 'cryptography' package to write real QUIC Initials (pip install cryptography)"
        );
    }
    let ev = out.join("events.ndjson");
    let json = out.join("summary.json");
    let o = run(&[
        "read",
        "-q",
        pcap.to_str().unwrap(),
        "--events",
        ev.to_str().unwrap(),
        "--events-all",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ai: BTreeMap<String, String> = truth["ai_domains"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let mut dom: BTreeMap<String, C> = BTreeMap::new();
    let mut host: BTreeMap<String, C> = BTreeMap::new();
    let events = read_ndjson(&ev);
    for e in &events {
        let n = e["server_name"].as_str().unwrap_or("").to_ascii_lowercase();
        if !ai.contains_key(&n) {
            // Decoys and ordinary names must never be classified as AI.
            let decoy = truth["decoy_domains"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d == &n);
            if decoy {
                assert!(
                    e["service"].is_null(),
                    "decoy {n} classified as {}",
                    e["service"]
                );
            }
            continue;
        }
        assert!(!e["service"].is_null(), "AI name {n} not classified");
        for (t, k) in [
            (&mut dom, n.clone()),
            (&mut host, e["client"].as_str().unwrap().to_string()),
        ] {
            let c = t.entry(k).or_default();
            c.flows += 1;
            c.up += e["bytes_up"].as_u64().unwrap();
            c.down += e["bytes_down"].as_u64().unwrap();
        }
    }
    let (tdom, thost) = truth_tables(&truth);
    assert_eq!(dom, tdom, "per-domain flows/bytes differ from the truth");
    assert_eq!(host, thost, "per-host flows/bytes differ from the truth");
    // The summary's per-host AI totals are the same numbers.
    let s = read_json(&json);
    let mut shost: BTreeMap<String, C> = BTreeMap::new();
    for h in s["hosts"].as_array().unwrap() {
        shost.insert(
            h["host"].as_str().unwrap().to_string(),
            C {
                flows: h["flows"].as_u64().unwrap(),
                up: h["bytes_up"].as_u64().unwrap(),
                down: h["bytes_down"].as_u64().unwrap(),
            },
        );
    }
    assert_eq!(shost, thost, "summary hosts differ from the truth");
    assert_eq!(s["capture"]["packets"], truth["totals"]["packets"]);
    let t = &truth["totals"];
    assert_eq!(s["visibility"]["quic_flows"], t["flows_quic"]);
    assert_eq!(s["visibility"]["quic_undecryptable"], 0);
    // The timeline adds up to the service totals.
    for svc in s["services"].as_array().unwrap() {
        let series = s["timeline"]["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["service"] == svc["id"])
            .expect("a timeline per service");
        for (arr, total) in [
            ("flows", "flows"),
            ("bytes_up", "bytes_up"),
            ("bytes_down", "bytes_down"),
        ] {
            let sum: u64 = series[arr]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(sum, svc[total].as_u64().unwrap(), "{} {arr}", svc["id"]);
        }
    }
    assert_eq!(
        s["capture"]["undecodable"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        0
    );
    s
}

#[test]
fn default_mix_matches_truth() {
    let dir = scratch("gen-default");
    let Some(p) = generate(
        &dir,
        "default.pcap",
        &[
            "--flows",
            "600",
            "--duration",
            "5",
            "--seed",
            "3",
            "--quic-frac",
            "0",
        ],
    ) else {
        return;
    };
    let s = check(&p, &dir);
    let truth = truth_of(&p);
    let tls: u64 = truth["totals"]["tls_client_hellos"].as_u64().unwrap();
    assert!(tls > 500);
    assert!(!s["services"].as_array().unwrap().is_empty());
}

#[test]
fn modern_mix_matches_truth() {
    let dir = scratch("gen-modern");
    let Some(p) = generate(
        &dir,
        "modern.pcap",
        &[
            "--flows",
            "1600",
            "--duration",
            "5",
            "--seed",
            "11",
            "--modern",
            "--quic-frac",
            "0",
        ],
    ) else {
        return;
    };
    let s = check(&p, &dir);
    let truth = truth_of(&p);
    // ECH flows are counted, and named through DNS.
    let ech = truth["totals"]["ech_flows"].as_u64().unwrap();
    assert!(ech > 0);
    assert_eq!(s["visibility"]["ech"].as_u64().unwrap(), ech);
    let doh = truth["totals"]["doh_flows"].as_u64().unwrap()
        + truth["totals"]["dot_flows"].as_u64().unwrap();
    assert_eq!(s["visibility"]["doh_dot"].as_u64().unwrap(), doh);
    let via_dns: u64 = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["via"]["dns"].as_u64().unwrap())
        .sum();
    assert!(via_dns > 0, "no flow named through DNS");
}

#[test]
fn gzip_input_gives_the_same_summary() {
    let dir = scratch("gen-gzip");
    let Some(p) = generate(
        &dir,
        "g.pcap",
        &[
            "--flows",
            "200",
            "--duration",
            "5",
            "--seed",
            "5",
            "--quic-frac",
            "0",
        ],
    ) else {
        return;
    };
    let raw = std::fs::read(&p).unwrap();
    let gz = dir.join("g.pcap.gz");
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        e.write_all(&raw).unwrap();
        e.finish().unwrap();
    }
    let (mut x, mut y) = (
        summary_of(&[&p], &[], &dir, "a"),
        summary_of(&[&gz], &[], &dir, "b"),
    );
    x["inputs"] = serde_json::Value::Null;
    y["inputs"] = serde_json::Value::Null;
    assert_eq!(x, y);
}

#[test]
fn two_hours_span_several_timeline_buckets() {
    let dir = scratch("gen-hours");
    let Some(p) = generate(
        &dir,
        "hours.pcap",
        &[
            "--flows",
            "500",
            "--duration",
            "7200",
            "--seed",
            "24",
            "--modern",
            "--quic-frac",
            "0",
        ],
    ) else {
        return;
    };
    let s = check(&p, &dir);
    let longest = s["timeline"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["flows"].as_array().unwrap().len())
        .max()
        .unwrap();
    assert!(
        longest >= 2,
        "a two-hour capture fills at least two hourly buckets"
    );
}

#[test]
fn facts_count_every_client_hello() {
    let dir = scratch("gen-facts");
    let Some(p) = generate(
        &dir,
        "f.pcap",
        &[
            "--flows",
            "800",
            "--duration",
            "5",
            "--seed",
            "12",
            "--modern",
        ],
    ) else {
        return;
    };
    let truth = truth_of(&p);
    let facts = dir.join("facts.ndjson");
    let o = run(&[
        "read",
        "-q",
        p.to_str().unwrap(),
        "--facts",
        facts.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let facts = read_ndjson(&facts);
    let count = |k: &str| facts.iter().filter(|f| f["kind"] == k).count() as u64;
    let t = &truth["totals"];
    // SNI-less hellos give no fact; a retransmitted segment is not a new hello.
    assert_eq!(
        count("tls_sni"),
        t["tls_client_hellos"].as_u64().unwrap() - t["nosni_flows"].as_u64().unwrap()
    );
    assert_eq!(count("quic_sni"), t["quic_client_hellos"].as_u64().unwrap());
    assert_eq!(
        count("tls_sni") + count("quic_sni"),
        t["sni_client_hellos"].as_u64().unwrap()
    );
    assert_eq!(count("http_host"), t["http_requests"].as_u64().unwrap());
}

#[test]
fn undecryptable_quic_is_reported_not_hidden() {
    let dir = scratch("gen-quic-random");
    let Some(p) = generate(
        &dir,
        "r.pcap",
        &[
            "--flows",
            "500",
            "--duration",
            "5",
            "--seed",
            "4",
            "--quic-plain-random",
        ],
    ) else {
        return;
    };
    let truth = truth_of(&p);
    let s = summary_of(&[&p], &[], &dir, "s");
    let quic = truth["totals"]["flows_quic"].as_u64().unwrap();
    assert!(quic > 0);
    assert_eq!(s["visibility"]["quic_flows"].as_u64().unwrap(), quic);
    assert_eq!(
        s["visibility"]["quic_undecryptable"].as_u64().unwrap(),
        quic
    );
    assert!(
        s["visibility"]["quic_undecryptable_byte_share"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}
