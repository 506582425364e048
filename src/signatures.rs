//! The AI-service catalog: loading `signatures/*.toml` and matching names and addresses.
//!
//! Matching rules (see signatures/README.md):
//! - `example.com` matches exactly that name; `*.example.com` matches any name
//!   that ends with `.example.com` on a label boundary (not `example.com`
//!   itself, never `notexample.com`);
//! - case-insensitive, a trailing dot is ignored;
//! - one label of a pattern may hold a single `*` standing for one or more
//!   characters inside that label (`*-aiplatform.googleapis.com`,
//!   `bedrock-runtime.*.amazonaws.com`): a *glob*, which matches names with
//!   exactly as many labels as the pattern;
//! - the most specific pattern wins: an exact name first, then a glob (the
//!   one with the longest fixed tail, then the most fixed characters), then
//!   the wildcard with the longest suffix.
//!
//! A lookup costs one hash probe for the exact name and one per label of the
//! name (wildcards and globs share one table keyed by suffix), with no
//! allocation (the lowercased name is built in a stack buffer).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use rustc_hash::FxHashMap;
use serde::Deserialize;

include!(concat!(env!("OUT_DIR"), "/builtin_signatures.rs"));

pub const CATEGORIES: &[&str] = &[
    "chat",
    "code",
    "image",
    "video",
    "audio",
    "api",
    "search",
    "writing",
    "translation",
    "agent",
    "other",
];

/// One service of the catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub vendor: String,
    pub category: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub cidrs: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    /// Data-use facts (see signatures/README.md and docs/RISK.md):
    /// "yes" | "opt-out" | "no" | "unknown".
    #[serde(default)]
    pub trains_on_inputs: Option<String>,
    /// "none" | "short" | "long" | "unknown".
    #[serde(default)]
    pub retention: Option<String>,
    /// A business tier that contractually excludes training exists.
    #[serde(default)]
    pub enterprise_offer: Option<bool>,
    /// File the service was read from (not in the TOML).
    #[serde(skip)]
    pub file: String,
    /// Added by a policy file (an organisation's own AI tool).
    #[serde(skip)]
    pub internal: bool,
    /// Added by a policy file's `[[catalog]]` (a public service the
    /// organisation adds to the catalog, e.g. from `signatures suggest`):
    /// not sanctioned unless listed, `source` and `country` optional.
    #[serde(skip)]
    pub local: bool,
}

pub const TRAINS_VALUES: &[&str] = &["yes", "opt-out", "no", "unknown"];
pub const RETENTION_VALUES: &[&str] = &["none", "short", "long", "unknown"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    service: Vec<Service>,
}

/// A parsed CIDR block.
#[derive(Debug, Clone, Copy)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok()?,
            None => max,
        };
        if prefix > max {
            return None;
        }
        Some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(n) & mask == u32::from(*a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(n) & mask == u128::from(*a) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The result of matching a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index into [`Catalog::services`].
    pub service: u16,
    /// Index into [`Catalog::patterns`].
    pub pattern: u32,
}

/// A loaded, validated catalog with its lookup tables.
#[derive(Debug, Default)]
pub struct Catalog {
    pub services: Vec<Service>,
    /// Every domain pattern as written, with its service.
    pub patterns: Vec<(String, u16)>,
    exact: FxHashMap<Box<str>, Match>,
    /// Key: the labels after a glob's `*` label (at least two); most
    /// specific glob first. (Copied into `suffixes` by [`Catalog::finish`].)
    globs: FxHashMap<Box<str>, Vec<Glob>>,
    /// The wildcards (key: the suffix without the `*.`) and globs (key:
    /// their tail) together, for lookups.
    suffixes: FxHashMap<Box<str>, SuffixEntry>,
    cidrs: Vec<(Cidr, u16)>,
    /// Registrable labels of the vendors' own domains, each with whether
    /// it is distinctive (five characters or more, not an ordinary word):
    /// see [`Catalog::is_vendor_label`] and [`Catalog::is_any_vendor_label`].
    vendor_labels: std::collections::HashMap<Box<str>, bool>,
    /// The vendors' own registrable domains with a distinctive label
    /// (`chatgpt.com`, `claude.ai`).
    vendor_domains: std::collections::HashSet<Box<str>>,
    /// Problems found while loading (used by `signatures check`).
    pub problems: Vec<String>,
    /// Warnings (overlaps, missing sources) for `signatures check`.
    pub warnings: Vec<String>,
}

/// A pattern with a `*` inside one label (see the module documentation).
#[derive(Debug, Clone)]
struct Glob {
    /// Whole labels before the glob label, dot-joined with a trailing dot
    /// (`"bedrock-runtime."`), or empty.
    head: Box<str>,
    /// Fixed text of the glob label before and after the `*`.
    prefix: Box<str>,
    suffix: Box<str>,
    m: Match,
}

impl Glob {
    /// Does `front` (the name without `.tail`) match the head and glob label?
    fn matches(&self, front: &str) -> bool {
        let Some(label) = front.strip_prefix(&*self.head) else {
            return false;
        };
        !label.contains('.')
            && label.len() > self.prefix.len() + self.suffix.len()
            && label.starts_with(&*self.prefix)
            && label.ends_with(&*self.suffix)
    }

    fn fixed_len(&self) -> usize {
        self.head.len() + self.prefix.len() + self.suffix.len()
    }
}

/// What the lookup finds under one suffix: its wildcard (`*.suffix`), the
/// globs whose tail it is, and whether globs sit under a shorter suffix of
/// it (then a wildcard hit must still look for them).
#[derive(Debug, Default)]
struct SuffixEntry {
    wild: Option<Match>,
    /// Globs whose `*` is in the first label of the name.
    globs: Box<[Glob]>,
    /// The others, by the first label of their head (`bedrock-runtime` for
    /// `bedrock-runtime.*.amazonaws.com`): a name's first label finds the few
    /// that can match it, however many a tail holds.
    headed: FxHashMap<Box<str>, Box<[Glob]>>,
    globs_below: bool,
}

impl SuffixEntry {
    /// The best glob matching `front`, the name without this suffix.
    fn glob(&self, front: &str) -> Option<Match> {
        if let Some(g) = self.globs.iter().find(|g| g.matches(front)) {
            return Some(g.m);
        }
        if self.headed.is_empty() {
            return None;
        }
        let first = front.split('.').next().unwrap_or(front);
        self.headed
            .get(first)?
            .iter()
            .find(|g| g.matches(front))
            .map(|g| g.m)
    }
}

/// The kinds of domain pattern.
enum Pattern {
    Exact(String),
    /// `*.suffix`: the suffix.
    Wildcard(String),
    /// (tail, glob without its match).
    Glob(String, String, String, String),
}

/// Parses a lower-cased pattern; `None` when it is malformed.
fn parse_pattern(pat: &str) -> Option<Pattern> {
    if let Some(body) = pat.strip_prefix("*.") {
        return (!body.contains('*') && valid_hostname(body))
            .then(|| Pattern::Wildcard(body.into()));
    }
    let stars = pat.matches('*').count();
    if stars == 0 {
        return valid_hostname(pat).then(|| Pattern::Exact(pat.into()));
    }
    if stars > 1 {
        return None;
    }
    let labels: Vec<&str> = pat.split('.').collect();
    let g = labels.iter().position(|l| l.contains('*'))?;
    let tail = labels[g + 1..].join(".");
    if labels.len() - g - 1 < 2 || !valid_hostname(&tail) {
        return None;
    }
    let (prefix, suffix) = labels[g].split_once('*')?;
    let label_ok = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !label_ok(prefix) || !label_ok(suffix) || labels[g].len() > 63 {
        return None;
    }
    let head: String = labels[..g].iter().map(|l| format!("{l}.")).collect();
    if !labels[..g]
        .iter()
        .all(|l| !l.is_empty() && l.len() <= 63 && label_ok(l))
    {
        return None;
    }
    Some(Pattern::Glob(tail, head, prefix.into(), suffix.into()))
}

/// Longest name we look up (DNS names are at most 253 characters).
pub const MAX_NAME: usize = 255;

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn builtin() -> Catalog {
        let files: Vec<(String, String)> = BUILTIN
            .iter()
            .map(|(n, c)| (n.to_string(), c.to_string()))
            .collect();
        Catalog::from_sources(&files).expect("built-in signature catalog must parse")
    }

    /// Loads a catalog from a directory of `*.toml` files or a single file.
    pub fn load(path: &Path) -> Result<Catalog, String> {
        let mut files = Vec::new();
        if path.is_dir() {
            let rd = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut paths: Vec<_> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            if paths.is_empty() {
                return Err(format!("{}: no *.toml signature files", path.display()));
            }
            for p in paths {
                let c = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                files.push((p.display().to_string(), c));
            }
        } else {
            let c =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push((path.display().to_string(), c));
        }
        Catalog::from_sources(&files)
    }

    /// Parses (file name, TOML text) pairs. Syntax errors are fatal; semantic
    /// problems (duplicates, bad patterns) are collected in `problems`.
    pub fn from_sources(files: &[(String, String)]) -> Result<Catalog, String> {
        let mut cat = Catalog::default();
        for (name, text) in files {
            let parsed: CatalogFile = toml::from_str(text).map_err(|e| {
                let msg = e.to_string();
                format!("{name}: {}", msg.lines().collect::<Vec<_>>().join(" "))
            })?;
            for mut s in parsed.service {
                s.file = name.clone();
                cat.add_service(s);
            }
        }
        if cat.services.len() > u16::MAX as usize {
            return Err("too many services".into());
        }
        cat.finish();
        cat.check_overlaps();
        Ok(cat)
    }

    /// Adds services from a policy file (internal AI tools) to the catalog.
    /// After a reload: where each service of `old` listed in `used` (those
    /// with counts) lies in this catalog, by id. A used service the new
    /// catalog no longer has is appended with its description but without
    /// names or addresses, so its counts keep their meaning in the reports
    /// and it matches nothing from now on. Returns the new index of each old
    /// index (`None` where `old` has no such service).
    pub fn reconcile(&mut self, old: &Catalog, used: &[u16]) -> Vec<Option<u16>> {
        let mut map = vec![None; old.services.len()];
        for &sid in used {
            let Some(o) = old.services.get(sid as usize) else {
                continue;
            };
            let at = match self.services.iter().position(|s| s.id == o.id) {
                Some(i) => i,
                None => {
                    let mut kept = o.clone();
                    kept.domains.clear();
                    kept.cidrs.clear();
                    self.services.push(kept);
                    self.services.len() - 1
                }
            };
            map[sid as usize] = u16::try_from(at).ok();
        }
        map
    }

    pub fn add_internal(&mut self, services: Vec<Service>) {
        for mut s in services {
            s.internal = true;
            self.add_service(s);
        }
        self.finish();
    }

    /// Adds a policy file's own catalog entries (see [`Service::local`]).
    pub fn add_local(&mut self, services: Vec<Service>) {
        for mut s in services {
            s.local = true;
            self.add_service(s);
        }
        self.finish();
    }

    /// Copies the globs into the lookup table (see [`SuffixEntry`]), once
    /// patterns are added.
    fn finish(&mut self) {
        for e in self.suffixes.values_mut() {
            e.globs = Box::default();
            e.headed.clear();
        }
        for (k, list) in &self.globs {
            let e = self.suffixes.entry(k.clone()).or_default();
            let (plain, headed): (Vec<Glob>, Vec<Glob>) =
                list.iter().cloned().partition(|g| g.head.is_empty());
            e.globs = plain.into_boxed_slice();
            let mut by: FxHashMap<Box<str>, Vec<Glob>> = FxHashMap::default();
            for g in headed {
                let first = g.head.split('.').next().unwrap_or("").into();
                by.entry(first).or_default().push(g);
            }
            // (Each list keeps the most fixed characters first.)
            e.headed = by
                .into_iter()
                .map(|(k, v)| (k, v.into_boxed_slice()))
                .collect();
        }
        let glob_tails: Vec<&str> = self.globs.keys().map(|k| &**k).collect();
        for (k, e) in self.suffixes.iter_mut() {
            e.globs_below = glob_tails.iter().any(|g| {
                g.len() < k.len() && k.ends_with(g) && k.as_bytes()[k.len() - g.len() - 1] == b'.'
            });
        }
    }

    /// The wildcard `*.suffix`, if there is one.
    fn wildcard(&self, suffix: &str) -> Option<Match> {
        self.suffixes.get(suffix).and_then(|e| e.wild)
    }

    /// Learns a vendor label from a pattern's body that covers a whole
    /// registrable domain (`chatgpt.com`, `*.claude.ai`): names on shared
    /// platforms (`gemini.google.com`) teach nothing.
    fn learn_vendor_label(&mut self, body: &str) {
        let labels: Vec<&str> = body.split('.').collect();
        if labels.len() < 2 || labels.len() != registrable_len(&labels) {
            return;
        }
        let label = labels[0];
        let distinctive = label.len() >= 5 && !GENERIC_LABELS.contains(&label);
        let e = self.vendor_labels.entry(label.into()).or_insert(false);
        *e |= distinctive;
        if distinctive {
            self.vendor_domains.insert(body.into());
        }
    }

    /// Is `label` the registrable label of a vendor's own domain (`chatgpt`,
    /// `claude`, `huggingface`)? Names built around one are lookalikes (see
    /// [`crate::candidates`]).
    pub fn is_vendor_label(&self, label: &str) -> bool {
        self.vendor_labels.get(label) == Some(&true)
    }

    /// Is `label` the registrable label of any vendor's own domain, however
    /// short or ordinary (`x`, `poe`, `jasper`)?
    pub fn is_any_vendor_label(&self, label: &str) -> bool {
        self.vendor_labels.contains_key(label)
    }

    /// Is `domain` a vendor's own registrable domain (one whose label is a
    /// vendor label: `claude.ai`, listed or only under a wildcard)?
    pub fn is_vendor_domain(&self, domain: &str) -> bool {
        self.vendor_domains.contains(domain)
    }

    fn add_service(&mut self, s: Service) {
        let idx = self.services.len() as u16;
        let where_ = format!("{}: service {:?}", s.file, s.id);
        if !is_kebab(&s.id) {
            self.problems
                .push(format!("{where_}: id must be kebab-case"));
        }
        if self.services.iter().any(|o| o.id == s.id) {
            self.problems.push(format!("{where_}: duplicate id"));
        }
        if !CATEGORIES.contains(&s.category.as_str()) {
            self.problems
                .push(format!("{where_}: unknown category {:?}", s.category));
        }
        if s.name.trim().is_empty() || s.vendor.trim().is_empty() {
            self.problems
                .push(format!("{where_}: name and vendor are required"));
        }
        if s.domains.is_empty() && s.cidrs.is_empty() {
            self.problems
                .push(format!("{where_}: no domains and no cidrs"));
        }
        let reviewed = !s.internal && !s.local;
        if reviewed
            && s.source
                .as_deref()
                .map_or(true, |x| !x.starts_with("https://"))
        {
            self.problems
                .push(format!("{where_}: missing https source link"));
        }
        match s.trains_on_inputs.as_deref() {
            Some(v) if !TRAINS_VALUES.contains(&v) => self.problems.push(format!(
                "{where_}: trains_on_inputs must be one of {TRAINS_VALUES:?}"
            )),
            None if reviewed => self.warnings.push(format!("{where_}: no trains_on_inputs")),
            _ => {}
        }
        match s.retention.as_deref() {
            Some(v) if !RETENTION_VALUES.contains(&v) => self.problems.push(format!(
                "{where_}: retention must be one of {RETENTION_VALUES:?}"
            )),
            None if reviewed => self.warnings.push(format!("{where_}: no retention")),
            _ => {}
        }
        // (A policy's own catalog entries may leave the country out.)
        let country_required = reviewed || (s.local && !s.country.is_empty());
        if country_required
            && (s.country.len() != 2 || !s.country.bytes().all(|b| b.is_ascii_uppercase()))
        {
            self.problems.push(format!(
                "{where_}: country must be an ISO 3166-1 alpha-2 code"
            ));
        }
        for d in &s.domains {
            let pat = d.trim().trim_end_matches('.').to_ascii_lowercase();
            let Some(parsed) = parse_pattern(&pat) else {
                self.problems
                    .push(format!("{where_}: invalid domain pattern {d:?}"));
                continue;
            };
            let m = Match {
                service: idx,
                pattern: self.patterns.len() as u32,
            };
            let prev = match &parsed {
                Pattern::Exact(body) => self.exact.get(body.as_str()).copied(),
                Pattern::Wildcard(body) => self.wildcard(body),
                Pattern::Glob(tail, head, prefix, suffix) => {
                    self.globs.get(tail.as_str()).and_then(|v| {
                        v.iter()
                            .find(|g| {
                                *g.head == **head && *g.prefix == **prefix && *g.suffix == **suffix
                            })
                            .map(|g| g.m)
                    })
                }
            };
            if let Some(prev) = prev {
                let other = &self
                    .services
                    .get(prev.service as usize)
                    .map_or(&s.id, |o| &o.id);
                self.problems.push(format!(
                    "{where_}: pattern {d:?} already listed by service {other:?}"
                ));
                continue;
            }
            match parsed {
                Pattern::Exact(body) => {
                    self.learn_vendor_label(&body);
                    self.exact.insert(body.into_boxed_str(), m);
                }
                Pattern::Wildcard(body) => {
                    self.learn_vendor_label(&body);
                    self.suffixes.entry(body.into_boxed_str()).or_default().wild = Some(m);
                }
                Pattern::Glob(tail, head, prefix, suffix) => {
                    let list = self.globs.entry(tail.into_boxed_str()).or_default();
                    list.push(Glob {
                        head: head.into_boxed_str(),
                        prefix: prefix.into_boxed_str(),
                        suffix: suffix.into_boxed_str(),
                        m,
                    });
                    // Most fixed characters first (stable: load order breaks ties).
                    list.sort_by_key(|g| std::cmp::Reverse(g.fixed_len()));
                }
            }
            self.patterns.push((d.trim().to_string(), idx));
        }
        for c in &s.cidrs {
            match Cidr::parse(c) {
                Some(cidr) => self.cidrs.push((cidr, idx)),
                None => self.problems.push(format!("{where_}: invalid CIDR {c:?}")),
            }
        }
        self.services.push(s);
    }

    /// Overlaps between services: an exact name or wildcard of one service that
    /// a wildcard of another service also covers. Legal (the most specific
    /// wins) but worth a look, so reported as warnings.
    fn check_overlaps(&mut self) {
        let mut warns = Vec::new();
        let all: Vec<(String, bool, Match)> = self
            .exact
            .iter()
            .map(|(k, m)| (k.to_string(), false, *m))
            .chain(
                self.suffixes
                    .iter()
                    .filter_map(|(k, e)| e.wild.map(|m| (k.to_string(), true, m))),
            )
            .collect();
        for (name, _wild, m) in &all {
            let mut rest = name.as_str();
            while let Some((_, tail)) = rest.split_once('.') {
                if let Some(o) = self.wildcard(tail) {
                    if o.service != m.service {
                        warns.push(format!(
                            "overlap: {:?} ({}) is also covered by *.{} ({})",
                            self.patterns[m.pattern as usize].0,
                            self.services[m.service as usize].id,
                            tail,
                            self.services[o.service as usize].id
                        ));
                    }
                }
                rest = tail;
            }
        }
        // Globs: exact names of other services they also match, and
        // wildcards of other services that cover their tail.
        for (tail, list) in &self.globs {
            for g in list {
                let pat = &self.patterns[g.m.pattern as usize].0;
                for (name, m) in &self.exact {
                    if m.service != g.m.service
                        && name
                            .strip_suffix(&**tail)
                            .and_then(|f| f.strip_suffix('.'))
                            .is_some_and(|front| g.matches(front))
                    {
                        warns.push(format!(
                            "overlap: {:?} ({}) is also matched by the glob {:?} ({})",
                            self.patterns[m.pattern as usize].0,
                            self.services[m.service as usize].id,
                            pat,
                            self.services[g.m.service as usize].id
                        ));
                    }
                }
                let mut rest = Some(&**tail);
                while let Some(t) = rest {
                    if let Some(o) = self.wildcard(t) {
                        if o.service != g.m.service {
                            warns.push(format!(
                                "overlap: {:?} ({}) is also covered by *.{} ({})",
                                pat,
                                self.services[g.m.service as usize].id,
                                t,
                                self.services[o.service as usize].id
                            ));
                        }
                    }
                    rest = t.split_once('.').map(|(_, r)| r);
                }
            }
        }
        warns.sort();
        self.warnings.extend(warns);
    }

    /// Matches a server name. Allocation-free.
    pub fn match_name(&self, name: &str) -> Option<Match> {
        let mut buf = [0u8; MAX_NAME];
        let lower = lower_name(name, &mut buf)?;
        if let Some(m) = self.exact.get(lower) {
            return Some(*m);
        }
        // One probe per label: the globs at a tail first (they beat every
        // wildcard), then the wildcard at it, the longest tail first; past a
        // wildcard, only shorter tails that hold globs are looked at.
        let mut found: Option<Match> = None;
        for (i, _) in lower.bytes().enumerate().filter(|&(_, b)| b == b'.') {
            let Some(e) = self.suffixes.get(&lower[i + 1..]) else {
                continue;
            };
            if let Some(m) = e.glob(&lower[..i]) {
                return Some(m);
            }
            if found.is_none() {
                if let Some(w) = e.wild {
                    if !e.globs_below {
                        return Some(w);
                    }
                    found = Some(w);
                }
            }
        }
        found
    }

    /// Matches an address against the catalog's CIDRs (most specific prefix wins).
    pub fn match_ip(&self, ip: &IpAddr) -> Option<u16> {
        self.cidrs
            .iter()
            .filter(|(c, _)| c.contains(ip))
            .max_by_key(|(c, _)| c.prefix)
            .map(|(_, s)| *s)
    }

    pub fn service(&self, idx: u16) -> &Service {
        &self.services[idx as usize]
    }

    pub fn pattern(&self, m: Match) -> &str {
        &self.patterns[m.pattern as usize].0
    }

    /// A short fingerprint of the catalog (service count + FNV-1a of ids and
    /// patterns), shown in reports so an audit names the catalog it used.
    pub fn version(&self) -> String {
        let mut h: u64 = 0xcbf29ce484222325;
        for (p, s) in &self.patterns {
            for b in self.services[*s as usize]
                .id
                .bytes()
                .chain(std::iter::once(0))
                .chain(p.bytes())
                .chain(std::iter::once(1))
            {
                h ^= b as u64;
                h = h.wrapping_mul(0x100000001b3);
            }
        }
        format!("{}-services-{:08x}", self.services.len(), h as u32)
    }

    /// Count of services per category (for listings).
    pub fn by_category(&self) -> HashMap<&str, usize> {
        let mut m = HashMap::new();
        for s in &self.services {
            *m.entry(s.category.as_str()).or_insert(0) += 1;
        }
        m
    }
}

/// Second-level labels under which registrations are made one level down
/// (`example.co.uk`, `example.com.cn`), for two-letter country domains.
const SECOND_LEVELS: &[&str] = &[
    "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "nic", "mil",
];

/// How many labels make the registrable domain (2, or 3 under a
/// second-level label of a two-letter country domain).
pub fn registrable_len(labels: &[&str]) -> usize {
    let n = labels.len();
    if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVELS.contains(&labels[n - 2]) {
        3
    } else {
        n.min(2)
    }
}

/// Vendor labels that are ordinary words: a name built around one is not a
/// lookalike (`chat.com` is OpenAI's, `aichat.ai` need not imitate it).
const GENERIC_LABELS: &[&str] = &[
    "about",
    "agent",
    "agents",
    "answer",
    "anyword",
    "arena",
    "assistant",
    "beautiful",
    "blackbox",
    "candy",
    "canvas",
    "captions",
    "character",
    "chats",
    "cloud",
    "coder",
    "cognition",
    "comfy",
    "compose",
    "consensus",
    "continue",
    "copilot",
    "create",
    "cursor",
    "deepl",
    "descript",
    "design",
    "devin",
    "elicit",
    "factory",
    "featherless",
    "fellow",
    "fireflies",
    "gamma",
    "gemini",
    "grain",
    "hyperbolic",
    "image",
    "inference",
    "jasper",
    "jules",
    "labs",
    "leonardo",
    "liner",
    "liquid",
    "llama",
    "loudly",
    "lovable",
    "magic",
    "manus",
    "media",
    "meshy",
    "mirage",
    "models",
    "monica",
    "music",
    "notes",
    "otter",
    "parasail",
    "photo",
    "pieces",
    "pilot",
    "playground",
    "portkey",
    "presentations",
    "producer",
    "prompt",
    "replicate",
    "resemble",
    "runway",
    "search",
    "sider",
    "slides",
    "sound",
    "soundful",
    "sourcery",
    "speak",
    "speech",
    "spinach",
    "stability",
    "stable",
    "story",
    "studio",
    "style",
    "sweep",
    "tensor",
    "together",
    "typeset",
    "unify",
    "venice",
    "video",
    "vision",
    "voice",
    "windsurf",
    "write",
    "writer",
];

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A name as the catalog compares it: no trailing dot, lower case (names on
/// the wire almost always are already: then as they are, else lowered into
/// `buf`); `None` when empty or longer than a DNS name can be.
#[inline]
pub fn lower_name<'a>(name: &'a str, buf: &'a mut [u8; MAX_NAME]) -> Option<&'a str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some(name);
    }
    let b = &mut buf[..name.len()];
    b.copy_from_slice(name.as_bytes());
    b.make_ascii_lowercase();
    // Lowercasing ASCII bytes keeps UTF-8 valid.
    std::str::from_utf8(b).ok()
}

/// A host name: labels of letters, digits, `-` and `_` (1 to 63 bytes), at
/// least two, 253 bytes at most.
pub fn valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && s.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATGPT: &str = r#"
[[service]]
id = "chatgpt"
name = "ChatGPT"
vendor = "OpenAI"
category = "chat"
country = "US"
domains = ["chatgpt.com", "*.chatgpt.com", "*.openai.com"]
source = "https://example.org"
"#;

    const OPENAI_API: &str = r#"
[[service]]
id = "openai-api"
name = "OpenAI API"
vendor = "OpenAI"
category = "api"
country = "US"
domains = ["api.openai.com"]
cidrs = ["192.0.2.0/24"]
source = "https://example.org"
"#;

    fn cat() -> Catalog {
        let t = format!("{CHATGPT}{OPENAI_API}");
        Catalog::from_sources(&[("t.toml".into(), t)]).unwrap()
    }

    fn id(c: &Catalog, n: &str) -> Option<String> {
        c.match_name(n).map(|m| c.service(m.service).id.clone())
    }

    /// A reload maps the used services by id; one the new catalog lacks is
    /// kept with its description and no names or addresses.
    #[test]
    fn reconcile_maps_by_id_and_keeps_removed_services() {
        let old = cat();
        let only_api = || Catalog::from_sources(&[("n.toml".into(), OPENAI_API.into())]).unwrap();
        let mut new = only_api();
        let map = new.reconcile(&old, &[0, 1]);
        assert_eq!(map, vec![Some(1), Some(0)]);
        assert_eq!(new.services[1].id, "chatgpt");
        assert!(new.services[1].domains.is_empty() && new.services[1].cidrs.is_empty());
        assert_eq!(id(&new, "chatgpt.com"), None);
        assert_eq!(id(&new, "api.openai.com").as_deref(), Some("openai-api"));
        // Only used services are looked at.
        let mut again = only_api();
        assert_eq!(again.reconcile(&old, &[1]), vec![None, Some(0)]);
        assert_eq!(again.services.len(), 1);
    }

    #[test]
    fn label_boundaries_and_specificity() {
        let c = cat();
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(id(&c, "chatgpt.com").as_deref(), Some("chatgpt"));
        assert_eq!(id(&c, "ab.chatgpt.com").as_deref(), Some("chatgpt"));
        assert_eq!(id(&c, "AB.ChatGPT.com.").as_deref(), Some("chatgpt"));
        assert_eq!(id(&c, "notchatgpt.com"), None);
        assert_eq!(id(&c, "chatgpt.com.evil.net"), None);
        assert_eq!(id(&c, "openai.com"), None);
        assert_eq!(id(&c, "api.openai.com").as_deref(), Some("openai-api"));
        assert_eq!(id(&c, "x.api.openai.com").as_deref(), Some("chatgpt"));
        assert_eq!(id(&c, "chat.openai.com").as_deref(), Some("chatgpt"));
        assert_eq!(id(&c, ""), None);
        assert_eq!(id(&c, &"a.".repeat(300)), None);
    }

    #[test]
    fn globs_match_one_label() {
        let c = crate::testutil::catalog_of(&[
            (
                "vertex",
                &["*-aiplatform.googleapis.com", "aiplatform.googleapis.com"],
            ),
            (
                "bedrock",
                &[
                    "bedrock-runtime.*.amazonaws.com",
                    "x.bedrock-runtime.*.amazonaws.com",
                ],
            ),
            (
                "chatgpt",
                &[
                    "chatgpt-async-webps-prod-*.webpubsub.azure.com",
                    "*.azure.com",
                    "*.googleapis.com",
                ],
            ),
        ]);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let is = |n: &str| id(&c, n);
        assert_eq!(
            is("us-central1-aiplatform.googleapis.com").as_deref(),
            Some("vertex")
        );
        assert_eq!(
            is("EUROPE-WEST4-aiplatform.googleapis.com.").as_deref(),
            Some("vertex")
        );
        assert_eq!(is("aiplatform.googleapis.com").as_deref(), Some("vertex"));
        // The star stands for at least one character, never a dot.
        assert_eq!(is("-aiplatform.googleapis.com").as_deref(), Some("chatgpt"));
        assert_eq!(
            is("a.b-aiplatform.googleapis.com").as_deref(),
            Some("chatgpt")
        );
        assert_eq!(is("x-aiplatform.googleapis.com.evil.net"), None);
        assert_eq!(
            is("bedrock-runtime.eu-west-3.amazonaws.com").as_deref(),
            Some("bedrock")
        );
        assert_eq!(
            is("x.bedrock-runtime.us-east-1.amazonaws.com").as_deref(),
            Some("bedrock")
        );
        assert_eq!(is("bedrock-runtime.a.b.amazonaws.com"), None);
        assert_eq!(is("y.bedrock-runtime.us-east-1.amazonaws.com"), None);
        assert_eq!(is("bedrock-runtime.amazonaws.com"), None);
        assert_eq!(is("s3.us-east-1.amazonaws.com"), None);
        // A glob beats a wildcard.
        assert_eq!(
            is("chatgpt-async-webps-prod-eastus-12.webpubsub.azure.com").as_deref(),
            Some("chatgpt")
        );
        let m = c
            .match_name("chatgpt-async-webps-prod-e.webpubsub.azure.com")
            .unwrap();
        assert_eq!(
            c.pattern(m),
            "chatgpt-async-webps-prod-*.webpubsub.azure.com"
        );
        // The glob of a second service is reported as an overlap.
        assert!(
            c.warnings.iter().any(
                |w| w.contains("*-aiplatform.googleapis.com") && w.contains("*.googleapis.com")
            ),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn malformed_globs_are_problems() {
        for bad in [
            "a*b*.example.com",
            "*x.com",
            "x.*.com",
            "*.*.example.com",
            "a.*",
            "a*b",
            "pre*fix.ex ample.com",
            "a..*.example.com",
        ] {
            let c = crate::testutil::catalog_of(&[("s", &[bad])]);
            assert!(
                c.problems
                    .iter()
                    .any(|p| p.contains("invalid domain pattern")),
                "{bad}: {:?}",
                c.problems
            );
        }
        let c = crate::testutil::catalog_of(&[("s", &["q.*.example.com", "Q.*.example.com"])]);
        assert!(
            c.problems.iter().any(|p| p.contains("already listed")),
            "{:?}",
            c.problems
        );
    }

    #[test]
    fn cidr_match() {
        let c = cat();
        assert_eq!(c.match_ip(&"192.0.2.7".parse().unwrap()), Some(1));
        assert_eq!(c.match_ip(&"192.0.3.7".parse().unwrap()), None);
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(&"2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains(&"2001:db9::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn problems_are_reported() {
        let t = r#"
[[service]]
id = "Bad_Id"
name = "x"
vendor = "y"
category = "nope"
domains = ["a.example", "a.example", "bad..name"]
"#;
        let c = Catalog::from_sources(&[("t.toml".into(), t.into())]).unwrap();
        // id, category, missing source, country, duplicate pattern, bad pattern
        assert_eq!(c.problems.len(), 6, "{:?}", c.problems);
        assert!(Catalog::from_sources(&[("t.toml".into(), "[[service]]\nid=1".into())]).is_err());
    }

    #[test]
    fn builtin_catalog_is_clean() {
        let c = Catalog::builtin();
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert!(c.services.len() >= 40, "only {} services", c.services.len());
        for n in [
            "chatgpt.com",
            "ab.chatgpt.com",
            "api.openai.com",
            "claude.ai",
            "api.anthropic.com",
            "gemini.google.com",
            "generativelanguage.googleapis.com",
            "copilot.microsoft.com",
            "chat.mistral.ai",
            "www.perplexity.ai",
            "chat.deepseek.com",
            "huggingface.co",
            "chat.openai.com",
            "cdn.oaistatic.com",
            // A vendor's own CDN tenant names are the vendor's.
            "chat.openai.com.cdn.cloudflare.net",
            "openai.com",
        ] {
            assert!(c.match_name(n).is_some(), "{n} should match");
        }
        for n in [
            "notchatgpt.com",
            "claude.ai.cdn-example.net",
            "chat.openai.com.example.net",
            "www.google.com",
            "google.com",
            "www.bing.com",
            "github.com",
            "microsoft.com",
            "cloudflare.com",
            "d1234.cloudfront.net",
        ] {
            assert!(c.match_name(n).is_none(), "{n} must not match");
        }
    }
}
