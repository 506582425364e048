//! `lanterne report a.json b.json ...`: merging summaries gives the summary
//! of one run over all the inputs, in any order and any grouping.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use serde_json::Value;

/// 2026-01-01T00:00:00Z
const DAY0: i64 = 1_767_225_600;

/// Three captures a day apart (their flows and DNS answers do not reach
/// into one another), with IPv6 and the modern mix in two, overlapping
/// hosts; their paths.
fn captures(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut v = Vec::new();
    for (i, (flows, modern)) in [(500, true), (500, true), (300, false)].iter().enumerate() {
        let start = (DAY0 + 86_400 * i as i64).to_string();
        let seed = (41 + i).to_string();
        let flows = flows.to_string();
        let mut args = vec![
            "--flows",
            &flows,
            "--seed",
            &seed,
            "--duration",
            "60",
            "--start-epoch",
            &start,
        ];
        if *modern {
            args.push("--modern");
        }
        v.push(generate(dir, &format!("c{i}.pcap"), &args)?);
    }
    Some(v)
}

fn read_to(dir: &Path, name: &str, inputs: &[&Path], extra: &[&str]) -> PathBuf {
    let json = dir.join(format!("{name}.json"));
    let csv = dir.join(format!("{name}.csv"));
    let mut args = vec![
        "read",
        "-q",
        "--threads",
        "1",
        "--json",
        json.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend_from_slice(extra);
    assert_exit(&run(&args), 0);
    json
}

fn report_to(dir: &Path, name: &str, summaries: &[&Path]) -> PathBuf {
    let json = dir.join(format!("{name}.json"));
    let csv = dir.join(format!("{name}.csv"));
    let mut args = vec![
        "report",
        "-q",
        "--json",
        json.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ];
    args.extend(summaries.iter().map(|p| p.to_str().unwrap()));
    assert_exit(&run(&args), 0);
    json
}

#[test]
fn merged_summaries_equal_one_run_over_all_inputs() {
    let dir = scratch("merge");
    let Some(caps) = captures(&dir) else { return };
    let caps: Vec<&Path> = caps.iter().map(PathBuf::as_path).collect();
    for extra in [&[][..], &["--pseudonymize", "k", "--host-prefix", "24"][..]] {
        let tag = if extra.is_empty() { "plain" } else { "private" };
        let parts: Vec<PathBuf> = caps
            .iter()
            .enumerate()
            .map(|(i, c)| read_to(&dir, &format!("{tag}-part{i}"), &[c], extra))
            .collect();
        let whole = read_to(&dir, &format!("{tag}-whole"), &caps, extra);
        let parts: Vec<&Path> = parts.iter().map(PathBuf::as_path).collect();
        let merged = report_to(&dir, &format!("{tag}-merged"), &parts);
        let (w, m) = (
            std::fs::read_to_string(&whole).unwrap(),
            std::fs::read_to_string(&merged).unwrap(),
        );
        assert!(
            w == m,
            "{tag}: merged summary differs from one run over all inputs"
        );
        assert_eq!(
            std::fs::read(whole.with_extension("csv")).unwrap(),
            std::fs::read(merged.with_extension("csv")).unwrap(),
            "{tag}: CSV"
        );
        // Something to merge: hosts seen in several captures.
        let s = read_json(&merged);
        let hosts = s["hosts"].as_array().unwrap().len();
        if extra.is_empty() {
            assert!(hosts > 30, "{hosts}");
            assert!(!s["other_hosts"].as_array().unwrap().is_empty());
        } else {
            assert!(hosts > 0);
        }
    }
    // The terminal report of a merge, in French.
    let o = run(&[
        "report",
        "--lang",
        "fr",
        dir.join("plain-part0.json").to_str().unwrap(),
        dir.join("plain-part1.json").to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("connexions nommées"));
    // Errors: a file that is not a summary, different bucket sizes.
    let not = dir.join("not.json");
    std::fs::write(&not, "{\"schema\": \"other\"}").unwrap();
    let o = run(&[
        "report",
        "-q",
        not.to_str().unwrap(),
        dir.join("plain-part0.json").to_str().unwrap(),
    ]);
    assert_exit(&o, 1);
    let hourly = read_to(&dir, "b60", &[caps[0]], &["--bucket-seconds", "60"]);
    let o = run(&[
        "report",
        "-q",
        hourly.to_str().unwrap(),
        dir.join("plain-part1.json").to_str().unwrap(),
    ]);
    assert_exit(&o, 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("bucket"));
}

/// Four summaries of the test corpus and generated traffic, once.
fn docs() -> &'static Vec<Value> {
    static DOCS: OnceLock<Vec<Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let dir = scratch("merge-docs");
        let mut out = Vec::new();
        if let Some(caps) = captures(&dir) {
            for (i, c) in caps.iter().enumerate() {
                out.push(read_json(&read_to(&dir, &format!("d{i}"), &[c], &[])));
            }
        }
        let chatgpt = data("corpus/pcap/ai__chatgpt-browser_frames-0001-0500.pcapng");
        out.push(read_json(&read_to(&dir, "chatgpt", &[&chatgpt], &[])));
        out
    })
}

/// A merge tree over `docs[order]`: `shape` picks where each merge splits.
fn merge_tree(order: &[usize], shape: &[u8]) -> Value {
    let d = docs();
    if order.len() == 1 {
        return d[order[0]].clone();
    }
    let cut = 1 + (shape.first().copied().unwrap_or(0) as usize) % (order.len() - 1);
    let rest = shape.get(1..).unwrap_or_default();
    let (l, r) = (
        merge_tree(&order[..cut], rest),
        merge_tree(&order[cut..], rest),
    );
    lanterne::merge::merge(&l, &r).unwrap()
}

/// Everything but the lists whose order follows the inputs'.
fn without_input_order(mut v: Value) -> Value {
    v["inputs"] = Value::Null;
    v["capture"]["read_errors"] = Value::Null;
    v
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any order and any grouping of the merges gives the same summary
    /// (the inputs listed in the order given).
    #[test]
    fn merging_is_associative_and_commutative(
        order in proptest::sample::subsequence(vec![0usize, 1, 2, 3], 2..=4).prop_shuffle(),
        shape in proptest::collection::vec(proptest::num::u8::ANY, 3),
        shape2 in proptest::collection::vec(proptest::num::u8::ANY, 3),
    ) {
        if docs().len() < 4 {
            return Ok(());
        }
        let a = merge_tree(&order, &shape);
        let b = merge_tree(&order, &shape2);
        proptest::prop_assert_eq!(&a, &b);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        let c = merge_tree(&sorted, &shape);
        proptest::prop_assert_eq!(without_input_order(a), without_input_order(c));
    }
}

/// Hostile summaries are errors, not crashes or huge allocations.
#[test]
fn hostile_summaries_are_refused() {
    let d = docs();
    let Some(a) = d.first() else { return };
    let merge = |x: &Value, y: &Value| lanterne::merge::merge(x, y);
    let mut huge_bucket = a.clone();
    huge_bucket["timeline"]["bucket_seconds"] = serde_json::json!(36_028_797_018_963_968u64);
    assert!(merge(&huge_bucket, &huge_bucket).is_err());
    let mut far = a.clone();
    far["timeline"]["series"][0]["start"] = "2261-12-31T00:00:00.000Z".into();
    // Centuries apart: the series is cut as a run cuts it (100,000 buckets).
    let m = merge(a, &far).unwrap();
    let n = m["timeline"]["series"][0]["flows"]
        .as_array()
        .unwrap()
        .len();
    assert!(n <= 100_000, "{n}");
    let mut bad = a.clone();
    bad["timeline"]["series"][0]["start"] = "+02:00".into();
    assert!(merge(a, &bad).is_err());
    let mut big = a.clone();
    big["capture"]["packets"] = serde_json::json!(u64::MAX);
    assert_eq!(
        merge(&big, &big).unwrap()["capture"]["packets"],
        serde_json::json!(u64::MAX)
    );
}
