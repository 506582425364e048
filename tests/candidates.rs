//! Candidates: names seen in traffic that match no catalog entry but look
//! like generative-AI services, counted apart from AI use; `signatures
//! suggest` turns them into a policy file; `signatures match` and `diff`
//! show clues without traffic.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use serde_json::Value;

/// Catalog names, candidate names (each its own label in the truth, so the
/// truth counts its hosts) and their expected clues.
const AI_DOMAINS: &str = "\
chatgpt.com\topenai\t10
claude.ai\tanthropic\t6
grammarly.com\tgrammarly\t3
newbot.ai\tcand-newbot\t3
app.newbot.ai\tcand-app-newbot\t2
api.gpt-relay.example\tcand-gpt-relay\t2
llm.corp-tools.example\tcand-llm\t2
myspace.gradio.live\tcand-gradio\t1
";

const CANDIDATES: &[(&str, &str)] = &[
    ("newbot.ai", "tld-ai"),
    ("app.newbot.ai", "tld-ai"),
    ("api.gpt-relay.example", "keyword-gpt"),
    ("llm.corp-tools.example", "keyword-llm"),
    ("myspace.gradio.live", "platform-gradio"),
];

#[derive(Debug, Default, PartialEq, Eq, Clone)]
struct C {
    hosts: u64,
    flows: u64,
    up: u64,
    down: u64,
}

/// Per candidate name: distinct hosts, flows, IP bytes, from the truth.
fn truth_candidates(truth: &Value) -> BTreeMap<String, C> {
    let mut out = BTreeMap::new();
    for (svc, s) in truth["ai_services"].as_object().unwrap() {
        if !svc.starts_with("cand-") {
            continue;
        }
        let (name, d) = s["domains"].as_object().unwrap().iter().next().unwrap();
        out.insert(
            name.clone(),
            C {
                hosts: s["hosts"].as_object().unwrap().len() as u64,
                flows: d["flows"].as_u64().unwrap(),
                up: d["ip_bytes_up"].as_u64().unwrap(),
                down: d["ip_bytes_down"].as_u64().unwrap(),
            },
        );
    }
    out
}

fn summary_candidates(s: &Value) -> BTreeMap<String, C> {
    s["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                C {
                    hosts: c["hosts"].as_u64().unwrap(),
                    flows: c["flows"].as_u64().unwrap(),
                    up: c["bytes_up"].as_u64().unwrap(),
                    down: c["bytes_down"].as_u64().unwrap(),
                },
            )
        })
        .collect()
}

fn generate_with_candidates(
    dir: &Path,
    name: &str,
    seed: &str,
    start: &str,
) -> Option<std::path::PathBuf> {
    let list = dir.join("ai-domains.tsv");
    std::fs::write(&list, AI_DOMAINS).unwrap();
    generate(
        dir,
        name,
        &[
            "--flows",
            "3000",
            "--seed",
            seed,
            "--modern",
            "--ai-frac",
            "0.2",
            "--duration",
            "600",
            "--start-epoch",
            start,
            "--ai-domains",
            list.to_str().unwrap(),
        ],
    )
}

/// Generated traffic (the modern mix: IPv6, ECH, split QUIC Initials, CNAME
/// chains, decoys) to catalog names and to five candidate names: every
/// candidate is counted exactly as the truth (distinct hosts, flows, IP
/// bytes) with its clue, catalog names are AI use and never candidates, the
/// ordinary and decoy names give no candidate; `suggest` writes a policy
/// that, loaded, turns the candidates into unsanctioned services.
#[test]
fn candidates_from_generated_traffic_and_suggest() {
    let dir = scratch("candidates-generated");
    let Some(pcap) = generate_with_candidates(&dir, "c.pcap", "7", "1767225600") else {
        return;
    };
    let truth = truth_of(&pcap);
    let s = summary_of(&[&pcap], &["--threads", "2"], &dir, "s");
    let want = truth_candidates(&truth);
    assert_eq!(want.len(), CANDIDATES.len(), "{want:?}");
    assert_eq!(summary_candidates(&s), want);
    for c in s["candidates"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let clue = CANDIDATES.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(c["clue"], clue, "{name}");
        assert_eq!(
            c["host_list"].as_array().unwrap().len() as u64,
            c["hosts"].as_u64().unwrap()
        );
    }
    assert_eq!(s["visibility"]["candidate_names"], CANDIDATES.len());
    assert_eq!(s["capture"]["limits"]["candidates_dropped"], 0);
    // The largest uploads first.
    let ups: Vec<u64> = s["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bytes_up"].as_u64().unwrap())
        .collect();
    assert!(ups.windows(2).all(|w| w[0] >= w[1]), "{ups:?}");
    // Catalog names are AI use, not candidates.
    let ids: BTreeSet<&str> = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert!(ids.contains("chatgpt") && ids.contains("claude") && ids.contains("grammarly"));
    // One thread, same candidates (the workers' tables merge).
    let s1 = summary_of(&[&pcap], &["--threads", "1"], &dir, "s1");
    assert_eq!(s1["candidates"], s["candidates"]);

    // The terminal and HTML reports show them apart from AI use.
    let html = dir.join("r.html");
    let o = run(&[
        "read",
        pcap.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let term = String::from_utf8_lossy(&o.stdout);
    assert!(
        term.contains("Possibly AI, not in the catalog — review: 5 name(s)"),
        "{term}"
    );
    for (n, clue) in CANDIDATES {
        assert!(
            term.lines().any(|l| l.starts_with(n) && l.contains(clue)),
            "{n}: {term}"
        );
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"candidates\""));
    assert!(page.contains("<td>api.gpt-relay.example</td><td>keyword-gpt</td>"));
    let fr = run(&[
        "report",
        dir.join("s.json").to_str().unwrap(),
        "--lang",
        "fr",
    ]);
    assert!(String::from_utf8_lossy(&fr.stdout)
        .contains("Peut-être de l'IA, absent du catalogue — à examiner : 5 nom(s)"));

    // suggest: a policy file with one stub per registrable domain.
    let o = run(&[
        "signatures",
        "suggest",
        dir.join("s.json").to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let policy_text = String::from_utf8(o.stdout).unwrap();
    let stubs: BTreeSet<&str> = policy_text
        .lines()
        .filter_map(|l| l.strip_prefix("id = "))
        .collect();
    let want_stubs: BTreeSet<&str> = [
        "\"newbot-ai\"",
        "\"gpt-relay-example\"",
        "\"corp-tools-example\"",
        "\"myspace-gradio-live\"",
    ]
    .into();
    assert_eq!(stubs, want_stubs, "{policy_text}");
    assert!(
        policy_text.contains("domains = [\"app.newbot.ai\", \"newbot.ai\"]"),
        "{policy_text}"
    );
    let policy = dir.join("suggested.toml");
    std::fs::write(&policy, &policy_text).unwrap();
    let p = summary_of(
        &[&pcap],
        &["--policy", policy.to_str().unwrap()],
        &dir,
        "with-policy",
    );
    assert_eq!(p["candidates"], Value::Array(vec![]));
    let svc = |id: &str| {
        p["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap_or_else(|| panic!("{id}: {}", p["services"]))
            .clone()
    };
    let newbot = svc("newbot-ai");
    assert_eq!(newbot["sanctioned"], false);
    assert_eq!(newbot["risk"], "high");
    assert_eq!(
        newbot["flows"].as_u64().unwrap(),
        want["newbot.ai"].flows + want["app.newbot.ai"].flows
    );
    assert_eq!(
        svc("gpt-relay-example")["bytes_up"],
        want["api.gpt-relay.example"].up
    );
    assert_eq!(p["policy"]["sanctioned_services"], 0);
}

/// Two captures read together and their summaries merged by `report` give
/// the same candidates.
#[test]
fn candidates_merge_like_one_run() {
    let dir = scratch("candidates-merge");
    let Some(a) = generate_with_candidates(&dir, "a.pcap", "11", "1767225600") else {
        return;
    };
    let b = generate_with_candidates(&dir, "b.pcap", "12", "1767312000").unwrap();
    let both = summary_of(&[&a, &b], &["--threads", "1"], &dir, "both");
    summary_of(&[&a], &["--threads", "1"], &dir, "a");
    summary_of(&[&b], &["--threads", "1"], &dir, "b");
    let merged = dir.join("merged.json");
    assert_exit(
        &run(&[
            "report",
            "-q",
            dir.join("a.json").to_str().unwrap(),
            dir.join("b.json").to_str().unwrap(),
            "--json",
            merged.to_str().unwrap(),
        ]),
        0,
    );
    let m = read_json(&merged);
    assert_eq!(m["candidates"], both["candidates"]);
    assert_eq!(
        m["visibility"]["candidate_names"],
        both["visibility"]["candidate_names"]
    );
    assert!(!both["candidates"].as_array().unwrap().is_empty());
}

/// Pseudonymised hosts: the candidates list tokens, never addresses.
#[test]
fn candidate_hosts_are_pseudonymized() {
    let dir = scratch("candidates-privacy");
    let Some(pcap) = generate_with_candidates(&dir, "p.pcap", "13", "1767225600") else {
        return;
    };
    let s = summary_of(&[&pcap], &["--pseudonymize", "k3y-for-tests"], &dir, "p");
    let list: Vec<&str> = s["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["host_list"].as_array().unwrap())
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(!list.is_empty());
    assert!(
        list.iter()
            .all(|h| h.starts_with("host-") && !h.contains('.')),
        "{list:?}"
    );
}

/// `signatures match` shows the clue of a name that matches no service, in
/// every format.
#[test]
fn match_shows_candidate_clues() {
    let o = run(&[
        "signatures",
        "match",
        "--format",
        "json",
        "chatgpt.com",
        "newbot.ai",
        "notchatgpt.com",
        "www.example.com",
    ]);
    assert_exit(&o, 0);
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let clues: Vec<&Value> = lines.iter().map(|l| &l["candidate"]).collect();
    assert_eq!(
        clues,
        [
            &Value::Null,
            &Value::from("tld-ai"),
            &Value::Null,
            &Value::Null
        ]
    );
    assert_eq!(lines[0]["service"], "chatgpt");
    let o = run(&["signatures", "match", "newbot.ai"]);
    assert_exit(&o, 1);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "newbot.ai\tno match\tcandidate: tld-ai\n"
    );
    let o = run(&[
        "signatures",
        "match",
        "--format",
        "csv",
        "a,b.ai",
        "claude.ai",
    ]);
    assert_exit(&o, 0);
    let text = String::from_utf8_lossy(&o.stdout);
    let mut rows = text.split("\r\n");
    assert_eq!(
        rows.next(),
        Some("name,service,vendor,category,pattern,candidate")
    );
    assert_eq!(rows.next(), Some("\"a,b.ai\",,,,,"));
    assert!(rows
        .next()
        .unwrap()
        .starts_with("claude.ai,claude,Anthropic,chat,"));
}

/// Each clue with exact positives and negatives on the built-in catalog
/// (tests/data/catalog/candidates.tsv), and none of the non-AI names of
/// tests/data/catalog/non_ai_hosts.txt is flagged but the few listed there
/// as expected candidates.
#[test]
fn clues_on_the_builtin_catalog() {
    let text = std::fs::read_to_string(data("catalog/candidates.tsv")).unwrap();
    let mut names = Vec::new();
    let mut want = Vec::new();
    for l in text.lines().map(str::trim) {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (n, c) = l.split_once('\t').unwrap_or((l, "-"));
        names.push(n.to_string());
        want.push(c.to_string());
    }
    assert!(names.len() >= 80, "{}", names.len());
    let mut args = vec!["signatures", "match", "--format", "json"];
    args.extend(names.iter().map(String::as_str));
    let o = run(&args);
    let got: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert!(v["service"].is_null(), "{l}: matches the catalog");
            v["candidate"].as_str().unwrap_or("-").to_string()
        })
        .collect();
    let wrong: Vec<String> = names
        .iter()
        .zip(want.iter().zip(&got))
        .filter(|(_, (w, g))| w != g)
        .map(|(n, (w, g))| format!("{n}: want {w}, got {g}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `signatures diff` on the list formats auditors meet: exactly the names
/// the catalog does not cover, with their clues; nothing imported.
#[test]
fn diff_lists_what_the_catalog_misses() {
    let dir = scratch("candidates-diff");
    let v2fly = dir.join("v2fly-ai");
    std::fs::write(
        &v2fly,
        "# v2fly style\nchatgpt.com\nfull:api.openai.com\nnewbot.ai\nfull:plain.example.org @ads\nkeyword:gpt\ninclude:other\n",
    )
    .unwrap();
    let clash = dir.join("clash.yaml");
    std::fs::write(
        &clash,
        "payload:\n  - '+.claude.ai'\n  - DOMAIN-SUFFIX,newbot.ai\n  - 'gemini.google.com'\n  - IP-CIDR,1.2.3.0/24\n",
    )
    .unwrap();
    let o = run(&[
        "signatures",
        "diff",
        "--format",
        "json",
        v2fly.to_str().unwrap(),
        clash.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let rows: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap().into(),
                r["name"].as_str().unwrap().into(),
                r["candidate"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        got,
        vec![
            s("missing", "newbot.ai", "tld-ai"),
            s("missing", "plain.example.org", ""),
            s("not-comparable", "gpt", ""),
            s("missing", "newbot.ai", "tld-ai"),
        ]
    );
    assert_eq!(rows[1]["line"], 5);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("8 rules: 4 covered, 0 partial, 3 missing, 1 not comparable"),
        "{stderr}"
    );
    // --all lists the covered rules with their service.
    let o = run(&["signatures", "diff", "--all", v2fly.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("covered")
            && l.contains("chatgpt.com")
            && l.ends_with("chatgpt")),
        "{text}"
    );
    // An unreadable list is a clear error.
    let o = run(&["signatures", "diff", dir.join("nope").to_str().unwrap()]);
    assert_exit(&o, 1);
}
