//! The summary (and the facts) are byte-for-byte the same for any number of
//! worker threads: flows are sharded by a symmetric hash, DNS answers are
//! followed by every worker, and results are merged order-independently.

mod common;

use std::path::Path;

use common::*;

fn outputs(pcap: &Path, threads: &str, dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let json = dir.join(format!("s{threads}.json"));
    let facts = dir.join(format!("f{threads}.ndjson"));
    let o = run(&[
        "read",
        "-q",
        pcap.to_str().unwrap(),
        "--threads",
        threads,
        "--json",
        json.to_str().unwrap(),
        "--facts",
        facts.to_str().unwrap(),
    ]);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{pcap:?}"
    );
    (
        std::fs::read(&json).unwrap(),
        std::fs::read(&facts).unwrap(),
    )
}

#[test]
fn corpus_summaries_do_not_depend_on_threads() {
    let dir = scratch("threads-corpus");
    let mut files: Vec<_> = std::fs::read_dir(data("corpus/pcap"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        let one = outputs(f, "1", &dir);
        let four = outputs(f, "4", &dir);
        assert!(one.0 == four.0, "summary differs with 4 threads: {f:?}");
        assert!(one.1 == four.1, "facts differ with 4 threads: {f:?}");
    }
}

#[test]
fn dns_named_flows_do_not_depend_on_threads() {
    let dir = scratch("threads-gen");
    // Every TLS flow without SNI (named only through the client's DNS answer,
    // which another worker's flow carries), plus ECH and CNAME chains.
    let Some(p) = generate(
        &dir,
        "nosni.pcap",
        &[
            "--flows",
            "1200",
            "--duration",
            "5",
            "--seed",
            "21",
            "--modern",
            "--nosni-frac",
            "0.5",
            "--dns-frac",
            "1",
        ],
    ) else {
        return;
    };
    let one = outputs(&p, "1", &dir);
    let s: serde_json::Value = serde_json::from_slice(&one.0).unwrap();
    let via_dns: u64 = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["via"]["dns"].as_u64().unwrap())
        .sum();
    assert!(via_dns > 20, "only {via_dns} flows named through DNS");
    for t in ["2", "3", "4"] {
        let other = outputs(&p, t, &dir);
        assert!(one.0 == other.0, "summary differs with {t} threads");
        assert!(one.1 == other.1, "facts differ with {t} threads");
    }
}
