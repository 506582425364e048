//! `lanterne signatures suggest SUMMARY.json...`: catalog stubs for the
//! candidates of summaries (names that look like AI services the catalog
//! does not know), for a reviewer to complete.
//!
//! The output is a policy file (see [`crate::policy`]): one `[[catalog]]`
//! entry per registrable domain, with the names seen under it, `unknown`
//! data-use facts and no country. Loaded with `--policy`, the entries count
//! as shadow AI (not sanctioned) and their names stop being candidates; a
//! confirmed service moves to `signatures/` with its sources
//! (signatures/README.md, "Keeping the catalog current").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::signatures::{registrable_len, valid_hostname, Catalog};

/// One stub: the candidates under one registrable domain.
#[derive(Debug, Default)]
struct Stub {
    names: BTreeSet<String>,
    clues: BTreeSet<String>,
    hosts: BTreeSet<String>,
    hosts_at_least: u64,
    flows: u64,
    up: u64,
    down: u64,
}

/// The registrable domain of a host name (see [`registrable_len`]).
fn registrable(name: &str) -> String {
    let labels: Vec<&str> = name.split('.').collect();
    let k = registrable_len(&labels);
    labels[labels.len() - k..].join(".")
}

/// A kebab-case id from a domain, not taken by `taken`.
fn stub_id(domain: &str, taken: &BTreeSet<String>) -> String {
    let mut id = String::new();
    for c in domain.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    let id = id.trim_end_matches('-').to_string();
    let id = if id.is_empty() {
        "candidate".into()
    } else {
        id
    };
    if !taken.contains(&id) {
        return id;
    }
    (2..)
        .map(|n| format!("{id}-{n}"))
        .find(|c| !taken.contains(c))
        .expect("a free id")
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The stubs of the summaries' candidates, as a policy file. `inputs` are
/// the summaries' file names (for the header); names the catalog already
/// matches are left out (a summary made with an older catalog).
pub fn suggest(summaries: &[(String, Value)], cat: &Catalog) -> String {
    let mut stubs: BTreeMap<String, Stub> = BTreeMap::new();
    for (_, s) in summaries {
        for c in s["candidates"].as_array().into_iter().flatten() {
            let Some(name) = c["name"].as_str() else {
                continue;
            };
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            // (Only host names: a summary is input, not trusted text.)
            if !valid_hostname(&name) || cat.match_name(&name).is_some() {
                continue;
            }
            // (A name under an app platform is one app: its own stub.)
            let platform = c["clue"]
                .as_str()
                .is_some_and(|c| c.starts_with("platform-"));
            let key = if platform {
                name.clone()
            } else {
                registrable(&name)
            };
            let st = stubs.entry(key).or_default();
            st.names.insert(name);
            if let Some(clue) = c["clue"].as_str() {
                st.clues.insert(clue.to_string());
            }
            for h in c["host_list"].as_array().into_iter().flatten() {
                if let Some(h) = h.as_str() {
                    st.hosts.insert(h.to_string());
                }
            }
            let n = |k: &str| c[k].as_u64().unwrap_or(0);
            st.hosts_at_least = st.hosts_at_least.max(n("hosts"));
            st.flows = st.flows.saturating_add(n("flows"));
            st.up = st.up.saturating_add(n("bytes_up"));
            st.down = st.down.saturating_add(n("bytes_down"));
        }
    }
    let mut order: Vec<(&String, &Stub)> = stubs.iter().collect();
    order.sort_by(|a, b| b.1.up.cmp(&a.1.up).then_with(|| a.0.cmp(b.0)));
    let mut taken: BTreeSet<String> = cat.services.iter().map(|s| s.id.clone()).collect();
    let mut o = String::new();
    o.push_str(
        "# lanterne signatures suggest: catalog stubs for names seen in traffic that match\n",
    );
    o.push_str("# no catalog entry but look like generative-AI services (\"candidates\").\n");
    o.push_str("# From:");
    for (f, _) in summaries {
        o.push(' ');
        o.push_str(f);
    }
    o.push_str("\n#\n");
    o.push_str(
        "# Review every stub before use: confirm it is a generative-AI service (delete it\n",
    );
    o.push_str(
        "# otherwise), name the vendor, category and country, and fill the data-use facts\n",
    );
    o.push_str(
        "# from the vendor's own terms (see signatures/README.md). Until then the facts are\n",
    );
    o.push_str("# \"unknown\", which counts against the service's risk level.\n");
    o.push_str("# As a --policy file, these services count as shadow AI (list an id under\n");
    o.push_str(
        "# `sanctioned` to approve it); a confirmed service belongs in signatures/ with its\n",
    );
    o.push_str("# sources, for everybody.\n\n");
    o.push_str("sanctioned = []\n");
    if order.is_empty() {
        o.push_str("\n# (The summaries hold no candidate.)\n");
    }
    for (domain, st) in order {
        let id = stub_id(domain, &taken);
        taken.insert(id.clone());
        let hosts = (st.hosts.len() as u64).max(st.hosts_at_least);
        let clues: Vec<&str> = st.clues.iter().map(String::as_str).collect();
        let _ = writeln!(
            o,
            "\n# {domain}: clue {}; seen from {hosts} host(s), {} flow(s), {} sent, {} received",
            clues.join(", "),
            st.flows,
            crate::report::human_bytes(st.up),
            crate::report::human_bytes(st.down)
        );
        o.push_str("[[catalog]]\n");
        let _ = writeln!(o, "id = {}", toml_str(&id));
        let _ = writeln!(o, "name = {}  # the product's name", toml_str(domain));
        let _ = writeln!(o, "vendor = {}  # the company", toml_str(domain));
        o.push_str("category = \"other\"  # chat, code, image, video, audio, api, search, writing, translation, agent, other\n");
        o.push_str("country = \"\"  # ISO 3166-1 alpha-2 code of the vendor's headquarters\n");
        let names: Vec<String> = st.names.iter().map(|n| toml_str(n)).collect();
        let _ = writeln!(
            o,
            "domains = [{}]  # add {} if every name under it is the service's",
            names.join(", "),
            toml_str(&format!("*.{domain}"))
        );
        o.push_str("cidrs = []\n");
        o.push_str("trains_on_inputs = \"unknown\"  # yes, opt-out, no, unknown: from the vendor's terms\n");
        o.push_str("retention = \"unknown\"  # none, short, long, unknown\n");
        o.push_str("enterprise_offer = false\n");
        let _ = writeln!(
            o,
            "# source = \"https://{domain}/\"  # the vendor page the facts come from"
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_strings() {
        let taken: BTreeSet<String> = ["example-ai".to_string()].into();
        assert_eq!(stub_id("example.ai", &taken), "example-ai-2");
        assert_eq!(stub_id("my_app.co.uk", &taken), "my-app-co-uk");
        assert_eq!(registrable("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(registrable("x.y.example.ai"), "example.ai");
        assert_eq!(toml_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }
}
