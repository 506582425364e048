//! Facts extracted from real captures equal tshark's ground truth
//! (tests/data/corpus: captures from nDPI, suricata-verify and a real ChatGPT
//! browser session; expected/*.jsonl computed with tshark 4.0.17, see
//! tests/data/corpus/README.md).
//!
//! Compared as multisets of (src, dst, sport, dport, transport, kind, name
//! [, qtype] [, rtype, data]) for tls_sni, dns_query, dns_answer and
//! http_host. Every difference that remains is listed in KNOWN with the
//! reason, and the test fails if it changes in either direction.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

type Key = (String, String, u64, u64, String, String, String, String);

const KINDS: &[&str] = &[
    "tls_sni",
    "quic_sni",
    "dns_query",
    "dns_answer",
    "http_host",
];

fn key(f: &serde_json::Value) -> Option<Key> {
    let kind = f["kind"].as_str()?;
    if !KINDS.contains(&kind) {
        return None;
    }
    let extra = match kind {
        "dns_query" => f["qtype"].as_str().unwrap_or("").to_string(),
        "dns_answer" => format!(
            "{} {}",
            f["rtype"].as_str().unwrap_or(""),
            f["data"].as_str().unwrap_or("")
        ),
        _ => String::new(),
    };
    Some((
        f["src"].as_str()?.to_string(),
        f["dst"].as_str()?.to_string(),
        f["sport"].as_u64()?,
        f["dport"].as_u64()?,
        f["transport"].as_str()?.to_string(),
        kind.to_string(),
        f["name"].as_str()?.to_string(),
        extra,
    ))
}

fn multiset(facts: &[serde_json::Value]) -> BTreeMap<Key, i64> {
    let mut m = BTreeMap::new();
    for f in facts {
        if let Some(k) = key(f) {
            *m.entry(k).or_insert(0) += 1;
        }
    }
    m
}

/// (file, kind, name, +extra / -missing count, why).
const KNOWN: &[(&str, &str, &str, i64, &str)] = &[(
    "ndpi__quic-29.pcap",
    "quic_sni",
    "localhost",
    -1,
    "frame 5: the client's ClientHello sent again after a Retry. tshark could not decrypt the \
         first post-Retry Initial (frame 3, see the corpus README) and shows this copy as a new \
         hello; we decrypt frame 3, and a resent ClientHello is a retransmission, not a new fact \
         (as tshark itself treats the same case in ndpi__doq_adguard.pcapng and \
         sv__quic-retry__input.pcap)",
)];

fn check_file(pcap: &Path, expected: &Path, out_dir: &Path) -> Vec<String> {
    let name = pcap.file_name().unwrap().to_string_lossy().to_string();
    let facts_path = out_dir.join(format!("{name}.facts"));
    let o = run(&[
        "read",
        "-q",
        pcap.to_str().unwrap(),
        "--facts",
        facts_path.to_str().unwrap(),
    ]);
    assert!(o.status.code().is_some(), "{name}: killed by a signal");
    let ours = multiset(&read_ndjson(&facts_path));
    let truth = multiset(&read_ndjson(expected));
    // Net difference per (kind, name).
    let mut diff: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (k, n) in &ours {
        *diff.entry((k.5.clone(), k.6.clone())).or_insert(0) +=
            n - truth.get(k).copied().unwrap_or(0);
    }
    for (k, n) in &truth {
        if !ours.contains_key(k) {
            *diff.entry((k.5.clone(), k.6.clone())).or_insert(0) -= n;
        }
    }
    diff.retain(|_, v| *v != 0);
    // Subtract the documented differences.
    let mut wildcard: BTreeMap<String, i64> = BTreeMap::new();
    for (file, kind, kname, n, _) in KNOWN {
        if *file != name {
            continue;
        }
        if *kname == "*" {
            *wildcard.entry(kind.to_string()).or_insert(0) += n;
        } else {
            *diff
                .entry((kind.to_string(), kname.to_string()))
                .or_insert(0) -= n;
        }
    }
    for (kind, n) in wildcard {
        let got: i64 = diff
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(
            got, n,
            "{name}: {kind} net difference {got}, documented {n}"
        );
        diff.retain(|(k, _), _| *k != kind);
    }
    diff.retain(|_, v| *v != 0);
    diff.iter()
        .map(|((k, n), v)| format!("{name}: {k} {n:?}: {}{v}", if *v > 0 { "+" } else { "" }))
        .collect()
}

#[test]
fn facts_equal_tshark_ground_truth() {
    let dir = data("corpus/pcap");
    let out = scratch("corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 90, "corpus copy incomplete: {}", files.len());
    let mut problems = Vec::new();
    let mut total = 0usize;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let exp = data(&format!("corpus/expected/{name}.jsonl"));
        total += read_ndjson(&exp)
            .iter()
            .filter(|x| key(x).is_some())
            .count();
        problems.extend(check_file(f, &exp, &out));
    }
    assert!(total > 3500, "ground truth too small: {total}");
    assert!(
        problems.is_empty(),
        "differences from tshark:\n{}",
        problems.join("\n")
    );
}

#[test]
fn chatgpt_session_is_reported() {
    let out = scratch("chatgpt");
    let pcap = data("corpus/pcap/ai__chatgpt-browser_frames-0001-0500.pcapng");
    let s = summary_of(&[&pcap], &[], &out, "s");
    assert_eq!(s["schema"], "lanterne.summary/1");
    assert_eq!(s["capture"]["packets"], 500);
    let svcs = s["services"].as_array().unwrap();
    let chatgpt = svcs
        .iter()
        .find(|x| x["id"] == "chatgpt")
        .expect("chatgpt reported");
    assert_eq!(chatgpt["hosts"], 1);
    let host = &s["hosts"][0];
    assert_eq!(host["host"], "192.168.4.73");
    let names: Vec<&str> = host["services"][0]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(names.contains(&"chat.openai.com"), "{names:?}");
    // Only the catalog's AI services, nothing else from this browser session.
    for x in svcs {
        assert!(
            ["chatgpt", "openai-api"].contains(&x["id"].as_str().unwrap()),
            "unexpected service {}",
            x["id"]
        );
    }
}
