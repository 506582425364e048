//! Merging summaries (`lanterne report a.json b.json --json merged.json`):
//! several sensors, or several captures, into one report.
//!
//! The merge works on the summary documents themselves, so that summaries
//! from other machines, older runs or pseudonymised sensors (hosts are then
//! tokens) merge alike. Counts add up; first/last times take the extremes;
//! hosts and services are matched by their `host` and `id`; each host's
//! server names are the union, capped like a run's (the 64 first in order);
//! derived numbers (a service's distinct hosts, the shares, the sanctioned /
//! shadow split) are computed again from the merged counts. `other_hosts`
//! (internal hosts without AI use) carries their totals, so that a host that
//! used AI in only one of the inputs still gets all its flows.
//!
//! The merge is associative and commutative up to the order of `inputs`
//! and `read_errors`, and merging the summaries of captures whose flows do
//! not span two of them gives the summary of one run over all of them
//! (tests/merge.rs checks both).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::report::SCHEMA;

/// Server names kept per host and service (as [`crate::report`] keeps them).
const MAX_NAMES: usize = 64;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn ratio(a: u64, b: u64) -> f64 {
    crate::report::ratio(a, b)
}

/// `a[k] + b[k]` for each key, over the union of the keys, in key order.
fn add_maps(a: &Value, b: &Value) -> Value {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for x in [a, b] {
        if let Some(o) = x.as_object() {
            for (k, v) in o {
                let e = m.entry(k.clone()).or_insert(0);
                *e = e.saturating_add(u(v));
            }
        }
    }
    json!(m)
}

fn min_str(a: &Value, b: &Value) -> Value {
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) => json!(x.min(y)),
        (Some(_), None) => a.clone(),
        _ => b.clone(),
    }
}

fn max_str(a: &Value, b: &Value) -> Value {
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) => json!(x.max(y)),
        (Some(_), None) => a.clone(),
        _ => b.clone(),
    }
}

fn concat(a: &Value, b: &Value) -> Value {
    let mut v = a.as_array().cloned().unwrap_or_default();
    v.extend(b.as_array().cloned().unwrap_or_default());
    Value::Array(v)
}

/// Sums the listed integer fields of two objects.
fn sum_fields(out: &mut Map<String, Value>, a: &Value, b: &Value, keys: &[&str]) {
    for k in keys {
        out.insert(k.to_string(), json!(u(&a[*k]).saturating_add(u(&b[*k]))));
    }
}

/// The order of a run's lists: most bytes sent first, ties by `key`.
fn sort_by_upload(v: &mut [Value], key: &str) {
    v.sort_by(|x, y| {
        u(&y["bytes_up"])
            .cmp(&u(&x["bytes_up"]))
            .then_with(|| x[key].as_str().cmp(&y[key].as_str()))
    });
}

/// Objects of an array by their key field, in first-seen order.
fn by_key(arrays: [&Value; 2], key: &str) -> BTreeMap<String, Vec<Value>> {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for a in arrays {
        for x in a.as_array().into_iter().flatten() {
            if let Some(k) = x[key].as_str() {
                m.entry(k.to_string()).or_default().push(x.clone());
            }
        }
    }
    m
}

/// One host's service entry, merged.
fn merge_host_service(a: &Value, b: &Value) -> Value {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for x in [a, b] {
        for n in x["names"].as_array().into_iter().flatten() {
            if let Some(n) = n.as_str() {
                names.insert(n.to_string());
            }
        }
    }
    let names: Vec<String> = names.into_iter().take(MAX_NAMES).collect();
    json!({
        "id": a["id"],
        "sanctioned": a["sanctioned"] == true || b["sanctioned"] == true,
        "flows": u(&a["flows"]).saturating_add(u(&b["flows"])),
        "bytes_up": u(&a["bytes_up"]).saturating_add(u(&b["bytes_up"])),
        "bytes_down": u(&a["bytes_down"]).saturating_add(u(&b["bytes_down"])),
        "first_seen": min_str(&a["first_seen"], &b["first_seen"]),
        "last_seen": max_str(&a["last_seen"], &b["last_seen"]),
        "names": names,
    })
}

/// Folds a list of same-key objects with `f`.
fn fold(list: Vec<Value>, f: impl Fn(&Value, &Value) -> Value) -> Value {
    let mut it = list.into_iter();
    let first = it.next().unwrap_or(Value::Null);
    it.fold(first, |acc, x| f(&acc, &x))
}

const TOTALS: [&str; 3] = ["all_flows", "all_bytes_up", "all_bytes_down"];

fn merge_hosts(a: &Value, b: &Value) -> (Vec<Value>, Vec<Value>) {
    let mut hosts: BTreeMap<String, Value> = BTreeMap::new();
    for (host, list) in by_key([&a["hosts"], &b["hosts"]], "host") {
        let merged = fold(list, |x, y| {
            let svcs = by_key([&x["services"], &y["services"]], "id")
                .into_values()
                .map(|l| fold(l, merge_host_service))
                .collect::<Vec<_>>();
            let mut o = Map::new();
            o.insert("host".into(), x["host"].clone());
            sum_fields(&mut o, x, y, &TOTALS);
            o.insert("services".into(), Value::Array(svcs));
            Value::Object(o)
        });
        hosts.insert(host, merged);
    }
    let mut others: BTreeMap<String, Value> = BTreeMap::new();
    for (host, list) in by_key([&a["other_hosts"], &b["other_hosts"]], "host") {
        let merged = fold(list, |x, y| {
            let mut o = Map::new();
            o.insert("host".into(), x["host"].clone());
            sum_fields(&mut o, x, y, &TOTALS);
            Value::Object(o)
        });
        match hosts.get_mut(&host) {
            // AI use in another input: its other flows count in its totals.
            Some(h) => {
                for k in TOTALS {
                    h[k] = json!(u(&h[k]).saturating_add(u(&merged[k])));
                }
            }
            None => {
                others.insert(host, merged);
            }
        }
    }
    // A host listed with no service (a hand-edited input) is one without AI
    // use, as a run would list it.
    let (hosts, idle): (BTreeMap<String, Value>, BTreeMap<String, Value>) = hosts
        .into_iter()
        .partition(|(_, h)| h["services"].as_array().is_some_and(|v| !v.is_empty()));
    for (host, h) in idle {
        let e = others.entry(host).or_insert_with(
            || json!({"host": h["host"], "all_flows": 0, "all_bytes_up": 0, "all_bytes_down": 0}),
        );
        for k in TOTALS {
            e[k] = json!(u(&e[k]).saturating_add(u(&h[k])));
        }
    }
    // A host's own totals: the sums over its services, in the run's order.
    let mut hosts: Vec<Value> = hosts
        .into_values()
        .map(|mut h| {
            let mut svcs = h["services"].as_array().cloned().unwrap_or_default();
            sort_by_upload(&mut svcs, "id");
            let total = |k: &str| svcs.iter().fold(0u64, |t, s| t.saturating_add(u(&s[k])));
            json!({
                "host": h["host"].take(),
                "flows": total("flows"),
                "bytes_up": total("bytes_up"),
                "bytes_down": total("bytes_down"),
                "all_flows": h["all_flows"],
                "all_bytes_up": h["all_bytes_up"],
                "all_bytes_down": h["all_bytes_down"],
                "services": svcs,
            })
        })
        .collect();
    sort_by_upload(&mut hosts, "host");
    (hosts, others.into_values().collect())
}

fn merge_service(x: &Value, y: &Value) -> Value {
    let mut o = x.as_object().cloned().unwrap_or_default();
    o.insert(
        "sanctioned".into(),
        json!(x["sanctioned"] == true || y["sanctioned"] == true),
    );
    sum_fields(
        &mut o,
        x,
        y,
        &["flows", "bytes_up", "bytes_down", "ech_flows"],
    );
    o.insert(
        "first_seen".into(),
        min_str(&x["first_seen"], &y["first_seen"]),
    );
    o.insert(
        "last_seen".into(),
        max_str(&x["last_seen"], &y["last_seen"]),
    );
    o.insert("via".into(), add_maps(&x["via"], &y["via"]));
    Value::Object(o)
}

/// Buckets a series holds at most (as a run writes them).
const MAX_BUCKETS: i64 = 100_000;

/// Per-bucket sums of one service's series (`start` in RFC 3339, as written).
fn merge_series(list: Vec<Value>, bucket_s: i64) -> Result<Value, String> {
    let mut buckets: BTreeMap<i64, [u64; 3]> = BTreeMap::new();
    let mut service = Value::Null;
    for s in &list {
        service = s["service"].clone();
        let Some(start) = s["start"].as_str().and_then(crate::report::parse_rfc3339) else {
            return Err(format!("timeline of {service}: bad start {}", s["start"]));
        };
        // (bucket_s is checked to be at most a year: no overflow.)
        let first = start.div_euclid(bucket_s * 1_000_000_000);
        if s["flows"].as_array().map_or(0, Vec::len) as i64 > MAX_BUCKETS {
            return Err(format!(
                "timeline of {service}: more than {MAX_BUCKETS} buckets"
            ));
        }
        for (i, k) in ["flows", "bytes_up", "bytes_down"].iter().enumerate() {
            for (j, v) in s[*k].as_array().into_iter().flatten().enumerate() {
                let e = &mut buckets.entry(first + j as i64).or_insert([0; 3])[i];
                *e = e.saturating_add(u(v));
            }
        }
    }
    let (Some(&first), Some(&last)) = (buckets.keys().next(), buckets.keys().next_back()) else {
        return Ok(
            json!({"service": service, "start": null, "flows": [], "bytes_up": [], "bytes_down": []}),
        );
    };
    // As a run does: at most MAX_BUCKETS buckets from the first.
    let n = (last - first + 1).clamp(1, MAX_BUCKETS) as usize;
    let mut cols = [vec![0u64; n], vec![0u64; n], vec![0u64; n]];
    for (k, v) in buckets {
        let Some(at) = usize::try_from(k - first).ok().filter(|&at| at < n) else {
            continue;
        };
        for (col, x) in cols.iter_mut().zip(v) {
            col[at] = x;
        }
    }
    let [flows, up, down] = cols;
    Ok(json!({
        "service": service,
        "start": crate::report::rfc3339(first * bucket_s * 1_000_000_000),
        "flows": flows, "bytes_up": up, "bytes_down": down,
    }))
}

/// Merges two summaries (see the module documentation).
pub fn merge(a: &Value, b: &Value) -> Result<Value, String> {
    for s in [a, b] {
        if s["schema"] != SCHEMA {
            return Err(format!("not a {SCHEMA} document (schema {})", s["schema"]));
        }
    }
    let bucket_s = a["timeline"]["bucket_seconds"].as_i64().unwrap_or(3600);
    if b["timeline"]["bucket_seconds"].as_i64().unwrap_or(3600) != bucket_s {
        return Err(
            "the summaries' timelines have different bucket sizes (--bucket-seconds)".into(),
        );
    }
    if !(1..=366 * 86_400).contains(&bucket_s) {
        return Err(format!("timeline bucket of {bucket_s} s: out of range"));
    }
    // Hosts must be shown alike: plain addresses with tokens, or tokens of
    // two keys, would count hosts twice (or show addresses in a report
    // meant to hide them).
    let view = |s: &Value| {
        let v = &s["hosts_view"];
        if v.is_null() {
            json!({"pseudonymized": false, "key_id": null, "prefix": null})
        } else {
            v.clone()
        }
    };
    if view(a) != view(b) {
        return Err(format!(
            "the summaries show hosts differently ({} and {}): the same --pseudonymize key and --host-prefix are needed",
            view(a),
            view(b)
        ));
    }
    // Capture.
    let (ca, cb) = (&a["capture"], &b["capture"]);
    let mut capture = Map::new();
    capture.insert("start".into(), min_str(&ca["start"], &cb["start"]));
    capture.insert("end".into(), max_str(&ca["end"], &cb["end"]));
    sum_fields(
        &mut capture,
        ca,
        cb,
        &[
            "packets",
            "bytes",
            "duplicates",
            "flows",
            "flows_external",
            "non_ip_packets",
            "other_ip_packets",
            "fragments",
            "reassembled_datagrams",
            "incomplete_datagrams",
            "tunneled_packets",
            "evicted_flows",
        ],
    );
    // Limits: the larger cap of the two runs, what the caps turned away added.
    let (la, lb) = (&ca["limits"], &cb["limits"]);
    let mut limits = Map::new();
    for k in ["max_memory", "max_flows", "max_hosts"] {
        limits.insert(k.into(), json!(u(&la[k]).max(u(&lb[k]))));
    }
    // (The same count as capture.evicted_flows, which older summaries have
    // without `limits`.)
    sum_fields(&mut limits, ca, cb, &["evicted_flows"]);
    sum_fields(
        &mut limits,
        la,
        lb,
        &[
            "reassembly_dropped",
            "dns_cache_evictions",
            "quic_decryptions_skipped",
            "untracked_host_flows",
            "defrag_dropped",
            "candidates_dropped",
        ],
    );
    capture.insert("limits".into(), Value::Object(limits));
    capture.insert(
        "undecodable".into(),
        add_maps(&ca["undecodable"], &cb["undecodable"]),
    );
    capture.insert(
        "anomalies".into(),
        add_maps(&ca["anomalies"], &cb["anomalies"]),
    );
    capture.insert(
        "drops".into(),
        json!({
            "kernel": u(&ca["drops"]["kernel"]).saturating_add(u(&cb["drops"]["kernel"])),
            "interface": u(&ca["drops"]["interface"]).saturating_add(u(&cb["drops"]["interface"])),
        }),
    );
    capture.insert(
        "read_errors".into(),
        concat(&ca["read_errors"], &cb["read_errors"]),
    );
    // Visibility: counts add up, shares are computed again.
    let (va, vb) = (&a["visibility"], &b["visibility"]);
    let mut c = Map::new();
    sum_fields(
        &mut c,
        va,
        vb,
        &[
            "flows_named",
            "flows_unnamed",
            "bytes_named",
            "bytes_unnamed",
            "ech",
            "doh_dot",
            "quic_undecryptable",
            "dns_flows",
            "quic_flows",
            "ech_bytes",
            "doh_dot_bytes",
            "quic_undecryptable_bytes",
        ],
    );
    let g = |k: &str| u(&c[k]);
    let total_bytes = g("bytes_named") + g("bytes_unnamed");
    let visibility = json!({
        "flows_named": g("flows_named"),
        "flows_unnamed": g("flows_unnamed"),
        "bytes_named": g("bytes_named"),
        "bytes_unnamed": g("bytes_unnamed"),
        "named_flow_share": ratio(g("flows_named"), g("flows_named") + g("flows_unnamed")),
        "named_byte_share": ratio(g("bytes_named"), total_bytes),
        "ech": g("ech"),
        "doh_dot": g("doh_dot"),
        "quic_undecryptable": g("quic_undecryptable"),
        "dns_flows": g("dns_flows"),
        "quic_flows": g("quic_flows"),
        "ech_bytes": g("ech_bytes"),
        "doh_dot_bytes": g("doh_dot_bytes"),
        "quic_undecryptable_bytes": g("quic_undecryptable_bytes"),
        "ech_byte_share": ratio(g("ech_bytes"), total_bytes),
        "doh_dot_byte_share": ratio(g("doh_dot_bytes"), total_bytes),
        "quic_undecryptable_byte_share": ratio(g("quic_undecryptable_bytes"), total_bytes),
    });
    let (candidates, candidate_names) = merge_candidates(a, b);
    let mut visibility = visibility;
    visibility["candidate_names"] = json!(candidate_names);
    let (hosts, other_hosts) = merge_hosts(a, b);
    // Services: sums, and the distinct hosts from the merged hosts.
    let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for h in &hosts {
        for s in h["services"].as_array().into_iter().flatten() {
            if let (Some(id), Some(host)) = (s["id"].as_str(), h["host"].as_str()) {
                users
                    .entry(id.to_string())
                    .or_default()
                    .insert(host.to_string());
            }
        }
    }
    let mut services: Vec<Value> = by_key([&a["services"], &b["services"]], "id")
        .into_iter()
        .map(|(id, list)| {
            let mut s = fold(list, merge_service);
            s["hosts"] = json!(users.get(&id).map_or(0, BTreeSet::len));
            s
        })
        .collect();
    sort_by_upload(&mut services, "id");
    // The sanctioned / shadow split.
    let split = |sanctioned: bool| {
        let sel: Vec<&Value> = services
            .iter()
            .filter(|s| (s["sanctioned"] == true) == sanctioned)
            .collect();
        let ids: BTreeSet<&str> = sel.iter().filter_map(|s| s["id"].as_str()).collect();
        let n_hosts = hosts
            .iter()
            .filter(|h| {
                h["services"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["id"].as_str().is_some_and(|i| ids.contains(i)))
            })
            .count();
        json!({
            "services": sel.len(),
            "hosts": n_hosts,
            "flows": sel.iter().map(|s| u(&s["flows"])).sum::<u64>(),
            "bytes_up": sel.iter().map(|s| u(&s["bytes_up"])).sum::<u64>(),
            "bytes_down": sel.iter().map(|s| u(&s["bytes_down"])).sum::<u64>(),
        })
    };
    let (pa, pb) = (&a["policy"]["file"], &b["policy"]["file"]);
    let policy = json!({
        "file": if pa == pb { pa.clone() } else { Value::Null },
        "sanctioned_services": services.iter().filter(|s| s["sanctioned"] == true).count(),
        "shadow_services": services.iter().filter(|s| s["sanctioned"] != true).count(),
        "sanctioned": split(true),
        "shadow": split(false),
    });
    // Timeline, in the services' order.
    let mut series_by = by_key(
        [&a["timeline"]["series"], &b["timeline"]["series"]],
        "service",
    );
    let series: Vec<Value> = services
        .iter()
        .filter_map(|s| s["id"].as_str())
        .filter_map(|id| series_by.remove(id))
        .map(|l| merge_series(l, bucket_s))
        .collect::<Result<_, _>>()?;
    // Catalog: the versions used, joined.
    let mut versions: BTreeSet<String> = BTreeSet::new();
    for s in [a, b] {
        for v in s["catalog"]["version"].as_str().unwrap_or("").split('+') {
            if !v.is_empty() {
                versions.insert(v.to_string());
            }
        }
    }
    let n_services = u(&a["catalog"]["services"]).max(u(&b["catalog"]["services"]));
    Ok(json!({
        "schema": SCHEMA,
        "tool": a["tool"],
        "inputs": concat(&a["inputs"], &b["inputs"]),
        "hosts_view": view(a),
        "catalog": {"version": versions.into_iter().collect::<Vec<_>>().join("+"), "services": n_services},
        "capture": capture,
        "visibility": visibility,
        "policy": policy,
        "services": services,
        "hosts": hosts,
        "other_hosts": other_hosts,
        "candidates": candidates,
        "timeline": {"bucket_seconds": bucket_s, "series": series},
    }))
}

/// The candidates of two summaries, matched by name: counts add up, the
/// host lists are united (a candidate's `hosts` is their union when both
/// lists are whole, else at least the larger count), the largest uploads
/// kept as a run keeps them. Also the number of distinct candidate names:
/// exact when no input left names out, else an upper bound.
fn merge_candidates(a: &Value, b: &Value) -> (Vec<Value>, u64) {
    let listed = |s: &Value| s["candidates"].as_array().map_or(0, Vec::len) as u64;
    let omitted = |s: &Value| u(&s["visibility"]["candidate_names"]).saturating_sub(listed(s));
    let mut all: Vec<Value> = by_key([&a["candidates"], &b["candidates"]], "name")
        .into_values()
        .map(|l| {
            fold(l, |x, y| {
                let mut hosts: BTreeSet<String> = BTreeSet::new();
                for h in [x, y]
                    .iter()
                    .flat_map(|v| v["host_list"].as_array().into_iter().flatten())
                {
                    if let Some(h) = h.as_str() {
                        hosts.insert(h.to_string());
                    }
                }
                let whole = |v: &Value| {
                    u(&v["hosts"]) == v["host_list"].as_array().map_or(0, Vec::len) as u64
                };
                let n_hosts = if whole(x) && whole(y) {
                    hosts.len() as u64
                } else {
                    (hosts.len() as u64).max(u(&x["hosts"])).max(u(&y["hosts"]))
                };
                let list: Vec<String> = hosts
                    .into_iter()
                    .take(crate::report::MAX_CANDIDATE_HOSTS_LISTED)
                    .collect();
                json!({
                    "name": x["name"],
                    "clue": x["clue"],
                    "hosts": n_hosts,
                    "flows": u(&x["flows"]).saturating_add(u(&y["flows"])),
                    "bytes_up": u(&x["bytes_up"]).saturating_add(u(&y["bytes_up"])),
                    "bytes_down": u(&x["bytes_down"]).saturating_add(u(&y["bytes_down"])),
                    "first_seen": min_str(&x["first_seen"], &y["first_seen"]),
                    "last_seen": max_str(&x["last_seen"], &y["last_seen"]),
                    "host_list": list,
                })
            })
        })
        .collect();
    let names = (all.len() as u64)
        .saturating_add(omitted(a))
        .saturating_add(omitted(b));
    sort_by_upload(&mut all, "name");
    all.truncate(crate::report::MAX_CANDIDATES);
    (all, names)
}

/// Merges every summary, in order.
pub fn merge_all(docs: &[Value]) -> Result<Value, String> {
    let mut it = docs.iter();
    let first = it.next().ok_or("no summary to merge")?.clone();
    it.try_fold(first, |acc, d| merge(&acc, d))
}
