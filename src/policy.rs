//! `--policy FILE`: which AI services the organisation sanctions, and its own
//! (internal or self-hosted) AI tools.
//!
//! ```toml
//! # policy.toml
//! sanctioned = ["openai-api", "le-chat", "deepl-api"]   # catalog ids approved for use
//!
//! [[service]]                      # an internal AI tool: sanctioned, added to the catalog
//! id = "acme-assistant"
//! name = "ACME Assistant"
//! vendor = "ACME IT"
//! category = "chat"
//! domains = ["assistant.acme.example", "*.llm.acme.example"]
//! cidrs = ["10.50.0.0/24"]
//! ```
//!
//! ```toml
//! [[catalog]]                      # a public AI service the catalog does not know yet
//! id = "example-ai"                # (`lanterne signatures suggest` writes such stubs)
//! name = "Example AI"
//! vendor = "Example Inc."
//! category = "chat"
//! domains = ["example.ai", "*.example.ai"]
//! trains_on_inputs = "unknown"
//! retention = "unknown"
//! enterprise_offer = false
//! ```
//!
//! Every id in `sanctioned` must exist (a typo would silently turn sanctioned
//! use into shadow use); internal services use the catalog's format, `country`,
//! `source` and the data-use fields are optional for them. `[[catalog]]`
//! entries are added to the catalog as it is: not sanctioned unless listed in
//! `sanctioned`, their risk computed from their facts (unknown facts count
//! against them, an empty `country` as a vendor outside the EU and the US);
//! `source` and `country` are optional.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use crate::signatures::{Catalog, Service};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    sanctioned: Vec<String>,
    #[serde(default)]
    service: Vec<Service>,
    #[serde(default)]
    catalog: Vec<Service>,
}

/// A loaded policy.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    /// Sanctioned service ids (internal services included).
    pub sanctioned: BTreeSet<String>,
    /// The file it came from.
    pub file: Option<String>,
}

impl Policy {
    /// Reads a policy and adds its internal services to `catalog`.
    pub fn load(path: &Path, catalog: &mut Catalog) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Policy::parse(&text, &path.display().to_string(), catalog)
    }

    pub fn parse(text: &str, name: &str, catalog: &mut Catalog) -> Result<Policy, String> {
        let f: PolicyFile = toml::from_str(text).map_err(|e| {
            format!(
                "{name}: {}",
                e.to_string().lines().collect::<Vec<_>>().join(" ")
            )
        })?;
        let before = catalog.problems.len();
        let mut services = f.service;
        for s in &mut services {
            s.file = name.to_string();
        }
        let internal_ids: Vec<String> = services.iter().map(|s| s.id.clone()).collect();
        catalog.add_internal(services);
        let mut local = f.catalog;
        for s in &mut local {
            s.file = name.to_string();
        }
        catalog.add_local(local);
        if catalog.problems.len() > before {
            return Err(format!("{name}: {}", catalog.problems[before..].join("; ")));
        }
        let mut sanctioned: BTreeSet<String> = BTreeSet::new();
        let mut unknown = Vec::new();
        for id in f.sanctioned {
            if catalog.services.iter().any(|s| s.id == id) {
                sanctioned.insert(id);
            } else {
                unknown.push(id);
            }
        }
        if !unknown.is_empty() {
            return Err(format!(
                "{name}: sanctioned services not in the catalog: {} (see `lanterne signatures list`)",
                unknown.join(", ")
            ));
        }
        sanctioned.extend(internal_ids);
        Ok(Policy {
            sanctioned,
            file: Some(name.to_string()),
        })
    }

    pub fn is_sanctioned(&self, id: &str) -> bool {
        self.sanctioned.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanctioned_and_internal_services() {
        let mut cat = Catalog::builtin();
        let n = cat.services.len();
        let p = Policy::parse(
            "sanctioned = [\"openai-api\"]\n[[service]]\nid = \"acme-llm\"\nname = \"ACME LLM\"\nvendor = \"ACME\"\ncategory = \"chat\"\ndomains = [\"llm.acme.example\"]\ncidrs = [\"10.50.0.0/24\"]\n",
            "p.toml",
            &mut cat,
        )
        .unwrap();
        assert!(p.is_sanctioned("openai-api") && p.is_sanctioned("acme-llm"));
        assert!(!p.is_sanctioned("chatgpt"));
        assert_eq!(cat.services.len(), n + 1);
        let m = cat.match_name("LLM.acme.example").unwrap();
        assert_eq!(cat.service(m.service).id, "acme-llm");
        assert!(cat.service(m.service).internal);
        assert_eq!(
            cat.service(cat.match_ip(&"10.50.0.9".parse().unwrap()).unwrap())
                .id,
            "acme-llm"
        );
    }

    /// `[[catalog]]` entries (as `signatures suggest` writes them) join the
    /// catalog unsanctioned, with their facts.
    #[test]
    fn local_catalog_entries() {
        let mut cat = Catalog::builtin();
        let p = Policy::parse(
            "sanctioned = []\n[[catalog]]\nid = \"newbot-ai\"\nname = \"newbot.ai\"\nvendor = \"newbot.ai\"\ncategory = \"other\"\ncountry = \"\"\ndomains = [\"newbot.ai\", \"app.newbot.ai\"]\ncidrs = []\ntrains_on_inputs = \"unknown\"\nretention = \"unknown\"\nenterprise_offer = false\n",
            "p.toml",
            &mut cat,
        )
        .unwrap();
        let m = cat.match_name("app.newbot.ai").unwrap();
        let s = cat.service(m.service);
        assert_eq!(s.id, "newbot-ai");
        assert!(s.local && !s.internal && !p.is_sanctioned("newbot-ai"));
        assert_eq!(crate::risk::level(s).as_str(), "high");
        // A bad country is still an error.
        let e = Policy::parse(
            "[[catalog]]\nid = \"x-ai\"\nname = \"x\"\nvendor = \"x\"\ncategory = \"other\"\ncountry = \"France\"\ndomains = [\"x.example\"]\n",
            "p.toml",
            &mut cat,
        )
        .unwrap_err();
        assert!(e.contains("country"), "{e}");
    }

    #[test]
    fn errors() {
        let mut cat = Catalog::builtin();
        let e = Policy::parse("sanctioned = [\"chatgtp\"]", "p.toml", &mut cat).unwrap_err();
        assert!(e.contains("chatgtp"), "{e}");
        assert!(Policy::parse("sanctioned = 3", "p.toml", &mut cat).is_err());
        let e = Policy::parse(
            "[[service]]\nid = \"chatgpt\"\nname = \"x\"\nvendor = \"y\"\ncategory = \"chat\"\ndomains = [\"a.example\"]\n",
            "p.toml",
            &mut cat,
        )
        .unwrap_err();
        assert!(e.contains("duplicate id"), "{e}");
    }
}
