//! The AI-service catalog: recall on known AI hosts, precision on popular
//! non-AI hosts, `signatures check` on a broken catalog, policies.

mod common;

use std::collections::BTreeSet;

use common::*;
use lanterne::signatures::Catalog;

fn lines(rel: &str) -> Vec<String> {
    std::fs::read_to_string(data(rel))
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn every_service_is_recognised_on_its_hosts() {
    let cat = Catalog::builtin();
    assert!(cat.problems.is_empty(), "{:?}", cat.problems);
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for l in lines("catalog/ai_hosts.tsv") {
        let (host, id) = l.split_once('\t').expect("host<TAB>service");
        match cat.match_name(host) {
            Some(m) if cat.service(m.service).id == id => {
                seen.insert(id.to_string());
            }
            Some(m) => wrong.push(format!(
                "{host}: {} instead of {id}",
                cat.service(m.service).id
            )),
            None => wrong.push(format!("{host}: no match, expected {id}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let missing: Vec<&str> = cat
        .services
        .iter()
        .map(|s| s.id.as_str())
        .filter(|id| !seen.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "services without a test host: {missing:?}"
    );
}

#[test]
fn popular_non_ai_hosts_never_match() {
    let cat = Catalog::builtin();
    let hosts = lines("catalog/non_ai_hosts.txt");
    assert!(hosts.len() >= 200, "only {} non-AI hosts", hosts.len());
    let bad: Vec<String> = hosts
        .iter()
        .filter_map(|h| {
            cat.match_name(h)
                .map(|m| format!("{h} -> {} ({})", cat.service(m.service).id, cat.pattern(m)))
        })
        .collect();
    assert!(bad.is_empty(), "false positives:\n{}", bad.join("\n"));
}

#[test]
fn catalog_breadth_and_facts() {
    let cat = Catalog::builtin();
    assert!(cat.services.len() >= 150, "{} services", cat.services.len());
    let countries: BTreeSet<&str> = cat.services.iter().map(|s| s.country.as_str()).collect();
    for cc in ["US", "FR", "CN"] {
        assert!(countries.contains(cc), "no {cc} vendor");
    }
    for s in &cat.services {
        assert!(
            s.trains_on_inputs.is_some() && s.retention.is_some() && s.enterprise_offer.is_some(),
            "{}",
            s.id
        );
        assert!(
            s.source.as_deref().unwrap_or("").starts_with("https://"),
            "{}",
            s.id
        );
    }
    // Consumer app and API are separate services where the risk differs.
    for (app, api) in [
        ("chatgpt", "openai-api"),
        ("claude", "anthropic-api"),
        ("gemini", "gemini-api"),
    ] {
        assert!(
            cat.services.iter().any(|s| s.id == app) && cat.services.iter().any(|s| s.id == api)
        );
    }
}

#[test]
fn signatures_check_fails_on_a_broken_catalog() {
    let dir = scratch("broken-catalog");
    std::fs::write(
        dir.join("a.toml"),
        r#"
[[service]]
id = "good-one"
name = "Good"
vendor = "V"
category = "chat"
country = "FR"
domains = ["good.example"]
source = "https://example.org"
trains_on_inputs = "no"
retention = "short"
enterprise_offer = true

[[service]]
id = "Bad Id"
name = "Bad"
vendor = "V"
category = "chatbot"
country = "France"
domains = ["good.example", "*.bad..example"]
trains_on_inputs = "sometimes"
"#,
    )
    .unwrap();
    let o = run(&["signatures", "check", "--signatures", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "kebab-case",
        "unknown category",
        "already listed",
        "invalid domain pattern",
        "missing https source",
        "trains_on_inputs must be",
        "country must be",
    ] {
        assert!(out.contains(needle), "{needle} not reported:\n{out}");
    }
    // Syntax errors are reported with the file name.
    std::fs::write(dir.join("b.toml"), "[[service]\nid = ").unwrap();
    let o = run(&["signatures", "check", "--signatures", dir.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("b.toml"));
    // The built-in catalog passes.
    let o = run(&["signatures", "check"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

const DEMO: &str = "corpus/pcap/ai__chatgpt-browser_frames-0001-0500.pcapng";

#[test]
fn policy_splits_sanctioned_from_shadow_and_fails_on_unsanctioned() {
    let dir = scratch("policy");
    let pol = dir.join("policy.toml");
    let json = dir.join("s.json");
    let pcap = data(DEMO);
    // ChatGPT not sanctioned: shadow use, exit 3 with --fail-on.
    std::fs::write(&pol, "sanctioned = [\"openai-api\"]\n").unwrap();
    let args = |fail: bool| {
        let mut v = vec![
            "read".to_string(),
            "-q".into(),
            pcap.to_str().unwrap().into(),
            "--policy".into(),
            pol.to_str().unwrap().into(),
            "--json".into(),
            json.to_str().unwrap().into(),
        ];
        if fail {
            v.push("--fail-on".into());
            v.push("unsanctioned".into());
        }
        v
    };
    let a: Vec<String> = args(true);
    let o = run(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = read_json(&json);
    assert_eq!(s["policy"]["shadow_services"], 1);
    assert_eq!(s["policy"]["shadow"]["flows"], 3);
    assert_eq!(s["policy"]["sanctioned"]["flows"], 0);
    assert_eq!(s["services"][0]["sanctioned"], false);
    assert_eq!(s["hosts"][0]["services"][0]["sanctioned"], false);
    // Sanctioned: exit 0 even with --fail-on.
    std::fs::write(&pol, "sanctioned = [\"chatgpt\"]\n").unwrap();
    let o = run(&args(true).iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0));
    let s = read_json(&json);
    assert_eq!(s["policy"]["sanctioned"]["flows"], 3);
    assert_eq!(s["services"][0]["sanctioned"], true);
    // A typo in the policy is a usage error, not silent shadow use.
    std::fs::write(&pol, "sanctioned = [\"chat-gpt\"]\n").unwrap();
    let o = run(&args(false).iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("chat-gpt"));
}

#[test]
fn policy_adds_internal_tools_by_name_and_cidr() {
    let dir = scratch("policy-internal");
    let pol = dir.join("policy.toml");
    // The DNS resolver of the capture stands in for an internal AI server.
    std::fs::write(
        &pol,
        "[[service]]\nid = \"acme-assistant\"\nname = \"ACME Assistant\"\nvendor = \"ACME IT\"\ncategory = \"chat\"\ndomains = [\"assistant.acme.example\"]\ncidrs = [\"192.168.4.1/32\"]\n",
    )
    .unwrap();
    let s = summary_of(
        &[&data(DEMO)],
        &["--policy", pol.to_str().unwrap()],
        &dir,
        "s",
    );
    let acme = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "acme-assistant")
        .expect("internal tool reported");
    assert_eq!(acme["sanctioned"], true);
    assert_eq!(acme["risk"], "low");
    assert!(acme["via"]["ip-range"].as_u64().unwrap() > 0);
}
