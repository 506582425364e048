//! External host lists, for `lanterne signatures diff`: which of their names
//! the catalog does not cover, for a reviewer to look at. Nothing is ever
//! imported from them (signatures/README.md, "Keeping the catalog current").
//!
//! Formats, recognised line by line:
//!
//! | format | lines |
//! |---|---|
//! | plain | `chat.example.com` (an exact name) |
//! | v2fly domain-list-community | `domain:example.com` or a bare `example.com` (the name and its subdomains), `full:x` (exact), `keyword:x`, `regexp:x`, `include:x`, ` @attr` after a rule |
//! | Clash rule-provider (domain or classical) | `payload:`, `- '+.example.com'` (name and subdomains), `- '.example.com'` (subdomains), `- '*.example.com'` (one level down), `- 'example.com'`, `- DOMAIN-SUFFIX,example.com` |
//! | Surge / Quantumult X / Loon | `DOMAIN,x`, `DOMAIN-SUFFIX,x`, `DOMAIN-KEYWORD,x`, `DOMAIN-WILDCARD,x`, `HOST,x`, `HOST-SUFFIX,x`, `HOST-KEYWORD,x` (a policy after a second comma is ignored); `IP-CIDR`, `IP-ASN`, `URL-REGEX`, `PROCESS-NAME` ... are not names |
//! | hosts file | `0.0.0.0 example.com`, `127.0.0.1 a b` |
//! | Adblock | `\|\|example.com^` |
//! | dnsmasq | `server=/example.com/…`, `address=/example.com/…` |
//!
//! Comments (`#`, `!`, `//`, `;` at the start of a line, ` #` after a rule)
//! and blank lines are skipped. In a v2fly file (one with a `domain:`,
//! `full:`, `include:`... line, or `--list-format v2fly`) a bare name means
//! the name and its subdomains; elsewhere (or with `--list-format plain`) an
//! exact name.

use crate::signatures::{valid_hostname, Catalog};

/// What a rule of a list covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exactly the name.
    Exact,
    /// The name and every name under it.
    Suffix,
    /// Only the names under it.
    Subdomains,
    /// A substring or regular expression: not comparable with a catalog.
    Keyword,
    Regexp,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exact => "exact",
            Kind::Suffix => "suffix",
            Kind::Subdomains => "subdomains",
            Kind::Keyword => "keyword",
            Kind::Regexp => "regexp",
        }
    }
}

/// One rule of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kind: Kind,
    /// Lower case, no trailing dot.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// What a bare name of a list means (`--list-format`): the formats are
/// recognised line by line; only a bare `example.com` is ambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// v2fly's meaning (the name and its subdomains) when the list has a
    /// `domain:`/`full:`/`include:`/`keyword:`/`regexp:` line, else plain.
    Auto,
    /// An exact name.
    Plain,
    /// The name and its subdomains.
    V2fly,
}

/// What a list holds: its rules and the lines that are no host rule
/// (`include:`, IP ranges, process names...), counted.
#[derive(Debug, Default)]
pub struct List {
    pub rules: Vec<Rule>,
    pub skipped: usize,
}

/// Longest line looked at (a list is text a person wrote or a tool made;
/// a longer line is skipped, not parsed).
const MAX_LINE: usize = 4096;

/// Parses a list (see the module documentation).
pub fn parse(text: &str, format: Format) -> List {
    let v2fly = match format {
        Format::V2fly => true,
        Format::Auto => text.lines().any(|l| {
            let l = l.trim_start();
            ["domain:", "full:", "include:", "keyword:", "regexp:"]
                .iter()
                .any(|p| l.starts_with(p))
        }),
        _ => false,
    };
    let mut out = List::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.len() > MAX_LINE {
            out.skipped += 1;
            continue;
        }
        let l = raw.trim();
        if l.is_empty() || ["#", "!", "//", ";"].iter().any(|c| l.starts_with(c)) {
            continue;
        }
        // A comment after the rule.
        let l = l.split(" #").next().unwrap_or(l).trim();
        match parse_line(l, v2fly) {
            Some(Some((kind, value))) => match normalise(&value, kind) {
                Some(value) => out.rules.push(Rule { kind, value, line }),
                None => out.skipped += 1,
            },
            Some(None) => out.skipped += 1,
            None => {}
        }
    }
    out
}

/// `None`: not a rule line (a header); `Some(None)`: a rule that is not a
/// host rule.
#[allow(clippy::option_option)]
fn parse_line(l: &str, v2fly: bool) -> Option<Option<(Kind, String)>> {
    if l == "payload:" || l.ends_with(':') && !l.contains(' ') && !l.contains(',') {
        return None;
    }
    // Clash list item.
    if let Some(item) = l.strip_prefix("- ").or_else(|| l.strip_prefix('-')) {
        let item = item.trim().trim_matches(|c| c == '\'' || c == '"').trim();
        if item.contains(',') {
            return Some(classical(item));
        }
        return Some(clash_domain(item));
    }
    if l.contains(',') {
        return Some(classical(l));
    }
    if let Some(rest) = l.strip_prefix("||") {
        let name = rest.trim_end_matches('^').split(['^', '$', '/']).next()?;
        return Some(Some((Kind::Suffix, name.to_string())));
    }
    for p in ["server=/", "address=/", "local=/"] {
        if let Some(rest) = l.strip_prefix(p) {
            return Some(
                rest.split('/')
                    .next()
                    .map(|n| (Kind::Suffix, n.to_string())),
            );
        }
    }
    let mut words = l.split_whitespace();
    let first = words.next()?;
    // hosts file: an address, then names.
    if first.parse::<std::net::IpAddr>().is_ok() {
        let name = words.next()?;
        return Some(Some((Kind::Exact, name.to_string())));
    }
    // (A v2fly attribute ` @ads` follows the rule.)
    if let Some((k, v)) = first.split_once(':') {
        return Some(match k {
            "full" => Some((Kind::Exact, v.into())),
            "domain" => Some((Kind::Suffix, v.into())),
            "keyword" => Some((Kind::Keyword, v.into())),
            "regexp" => Some((Kind::Regexp, v.into())),
            _ => None,
        });
    }
    Some(Some((
        if v2fly { Kind::Suffix } else { Kind::Exact },
        first.to_string(),
    )))
}

/// `TYPE,value[,policy]` (Surge, Clash classical, Quantumult X, Loon).
fn classical(l: &str) -> Option<(Kind, String)> {
    let mut parts = l.split(',').map(str::trim);
    let ty = parts.next()?.to_ascii_uppercase();
    let v = parts.next()?.to_string();
    let kind = match ty.as_str() {
        "DOMAIN" | "HOST" => Kind::Exact,
        "DOMAIN-SUFFIX" | "HOST-SUFFIX" => Kind::Suffix,
        "DOMAIN-KEYWORD" | "HOST-KEYWORD" => Kind::Keyword,
        "DOMAIN-REGEX" => Kind::Regexp,
        "DOMAIN-WILDCARD" | "HOST-WILDCARD" => {
            return wildcard(&v);
        }
        _ => return None,
    };
    Some((kind, v))
}

/// A Clash domain-behaviour entry.
fn clash_domain(item: &str) -> Option<(Kind, String)> {
    if let Some(v) = item.strip_prefix("+.") {
        return Some((Kind::Suffix, v.into()));
    }
    if let Some(v) = item.strip_prefix('.') {
        return Some((Kind::Subdomains, v.into()));
    }
    if item.contains('*') {
        return wildcard(item);
    }
    Some((Kind::Exact, item.into()))
}

/// `*.example.com` (names under it); other wildcards are not comparable.
fn wildcard(v: &str) -> Option<(Kind, String)> {
    match v.strip_prefix("*.") {
        Some(rest) if !rest.contains(['*', '?']) => Some((Kind::Subdomains, rest.into())),
        _ => Some((Kind::Regexp, v.into())),
    }
}

/// Lower case, no trailing dot; `None` for what is not a host name (a URL,
/// an address, a name with spaces). Keywords and expressions are kept as
/// written.
fn normalise(v: &str, kind: Kind) -> Option<String> {
    if matches!(kind, Kind::Keyword | Kind::Regexp) {
        return (!v.is_empty()).then(|| v.to_string());
    }
    let v = v.trim().trim_end_matches('.').to_ascii_lowercase();
    (valid_hostname(&v) && v.parse::<std::net::IpAddr>().is_err()).then_some(v)
}

/// How far the catalog covers a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// Every name of the rule matches (the service of its main name).
    Covered(String),
    /// Some do: the service, and what is missing.
    Partial(String, &'static str),
    Missing,
    /// A keyword or expression.
    NotComparable,
}

impl Coverage {
    pub fn status(&self) -> &'static str {
        match self {
            Coverage::Covered(_) => "covered",
            Coverage::Partial(..) => "partial",
            Coverage::Missing => "missing",
            Coverage::NotComparable => "not-comparable",
        }
    }
}

/// A name under a rule's suffix that no list would hold, to see whether
/// the catalog covers the names under it.
pub const PROBE_LABEL: &str = "lanterne-probe-7f3a";

/// How the catalog covers `r`: the name itself, and a name under it for
/// the rules that cover subdomains.
pub fn coverage(cat: &Catalog, r: &Rule) -> Coverage {
    let id = |n: &str| cat.match_name(n).map(|m| cat.service(m.service).id.clone());
    let under = || id(&format!("{PROBE_LABEL}.{}", r.value));
    match r.kind {
        Kind::Keyword | Kind::Regexp => Coverage::NotComparable,
        Kind::Exact => id(&r.value).map_or(Coverage::Missing, Coverage::Covered),
        Kind::Subdomains => under().map_or(Coverage::Missing, Coverage::Covered),
        Kind::Suffix => match (id(&r.value), under()) {
            (Some(s), Some(_)) => Coverage::Covered(s),
            (Some(s), None) => Coverage::Partial(s, "names under it"),
            (None, Some(s)) => Coverage::Partial(s, "the name itself"),
            (None, None) => Coverage::Missing,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str, f: Format) -> Vec<(Kind, String)> {
        parse(text, f)
            .rules
            .into_iter()
            .map(|r| (r.kind, r.value))
            .collect()
    }

    #[test]
    fn formats() {
        use Kind::*;
        let v2 = "# OpenAI\nchatgpt.com\nfull:api.openai.com @ads\nkeyword:openai\nregexp:^a\\.b$\ninclude:other\n\n";
        assert_eq!(
            rules(v2, Format::Auto),
            vec![
                (Suffix, "chatgpt.com".into()),
                (Exact, "api.openai.com".into()),
                (Keyword, "openai".into()),
                (Regexp, "^a\\.b$".into()),
            ]
        );
        assert_eq!(parse(v2, Format::Auto).skipped, 1);
        let clash = "payload:\n  - '+.claude.ai'\n  - '.anthropic.com'\n  - 'claude.com'\n  - '*.poe.com'\n  - DOMAIN-SUFFIX,kimi.com\n  - IP-CIDR,1.2.3.0/24\n";
        assert_eq!(
            rules(clash, Format::Auto),
            vec![
                (Suffix, "claude.ai".into()),
                (Subdomains, "anthropic.com".into()),
                (Exact, "claude.com".into()),
                (Subdomains, "poe.com".into()),
                (Suffix, "kimi.com".into()),
            ]
        );
        let surge = "DOMAIN,Chat.OpenAI.com.\nDOMAIN-SUFFIX,oaistatic.com,PROXY\nDOMAIN-KEYWORD,gpt\nHOST-SUFFIX,x.ai,proxy\nIP-ASN,20473,no-resolve\nURL-REGEX,^https://a\n";
        assert_eq!(
            rules(surge, Format::Auto),
            vec![
                (Exact, "chat.openai.com".into()),
                (Suffix, "oaistatic.com".into()),
                (Keyword, "gpt".into()),
                (Suffix, "x.ai".into()),
            ]
        );
        let misc = "0.0.0.0 ads.example.com\n127.0.0.1\tb.example.com c.example.com\n||tracker.example.org^\nserver=/cn.example/114.114.114.114\nplain.example.net # note\n! adblock comment\n";
        assert_eq!(
            rules(misc, Format::Auto),
            vec![
                (Exact, "ads.example.com".into()),
                (Exact, "b.example.com".into()),
                (Suffix, "tracker.example.org".into()),
                (Suffix, "cn.example".into()),
                (Exact, "plain.example.net".into()),
            ]
        );
        // Not names: URLs, addresses, bare words.
        let bad = "https://a.example/x\n10.0.0.1\nlocalhost\nfull:a b\n";
        let l = parse(bad, Format::Plain);
        assert!(l.rules.is_empty(), "{:?}", l.rules);
        // A forced v2fly format makes bare names suffixes.
        assert_eq!(
            rules("a.example\n", Format::V2fly),
            vec![(Suffix, "a.example".into())]
        );
        // Hostile input: long lines are skipped, not parsed.
        let long = format!("{}\n", "a".repeat(100_000));
        assert_eq!(parse(&long, Format::Auto).skipped, 1);
    }

    proptest::proptest! {
        /// Any text: no panic, every rule a valid value with its line.
        #[test]
        fn any_text(text in "[ -~\n\t\\PC]{0,2000}") {
            let n = text.lines().count();
            let l = parse(&text, Format::Auto);
            for r in &l.rules {
                proptest::prop_assert!(r.line >= 1 && r.line <= n);
                proptest::prop_assert!(!r.value.is_empty());
            }
        }
    }

    #[test]
    fn coverage_of_rules() {
        let cat = crate::testutil::catalog_of(&[(
            "chatgpt",
            &[
                "chatgpt.com",
                "*.chatgpt.com",
                "*.oaistatic.com",
                "openai.com",
            ],
        )]);
        let r = |kind, v: &str| Rule {
            kind,
            value: v.into(),
            line: 1,
        };
        assert_eq!(
            coverage(&cat, &r(Kind::Suffix, "chatgpt.com")),
            Coverage::Covered("chatgpt".into())
        );
        assert_eq!(
            coverage(&cat, &r(Kind::Suffix, "openai.com")),
            Coverage::Partial("chatgpt".into(), "names under it")
        );
        assert_eq!(
            coverage(&cat, &r(Kind::Suffix, "oaistatic.com")),
            Coverage::Partial("chatgpt".into(), "the name itself")
        );
        assert_eq!(
            coverage(&cat, &r(Kind::Subdomains, "oaistatic.com")),
            Coverage::Covered("chatgpt".into())
        );
        assert_eq!(
            coverage(&cat, &r(Kind::Exact, "claude.ai")),
            Coverage::Missing
        );
        assert_eq!(
            coverage(&cat, &r(Kind::Keyword, "gpt")),
            Coverage::NotComparable
        );
    }
}
