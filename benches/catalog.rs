//! Criterion benches of name lookups in the catalog: does a lookup cost more
//! when the catalog grows? (BENCHMARKS.md, "Catalog lookups".)
//!
//! - `builtin/*`: the built-in catalog on a mix of names as a sensor sees
//!   them (ordinary names, AI hosts, deep CDN names, misses);
//! - `size/N`: synthetic catalogs of N services (each with an exact name and
//!   a wildcard) on the same kind of mix, from N = 250 to 4,000: the time per
//!   lookup must stay flat; `size_with_globs/N`: the same with a glob in one
//!   service of four (releases with globs only).
//!
//! Uses only `Catalog::from_sources`, `Catalog::builtin` and `match_name`
//! (and the name mix of `testutil`), so the same file runs on older releases
//! (the before/after in BENCHMARKS.md; `examples/lookup_count.rs` counts the
//! instructions of the same lookups under callgrind).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use lanterne::signatures::Catalog;

/// Names as a sensor sees them (see `testutil::LOOKUP_MIX`).
const MIX: &[&str] = lanterne::testutil::LOOKUP_MIX;

/// A synthetic catalog of `n` services, with globs or not (older releases
/// have none: `None` when the catalog refuses them).
fn synthetic(n: usize, globs: bool) -> Option<Catalog> {
    let mut t = String::new();
    for i in 0..n {
        let glob = if globs && i % 4 == 0 {
            format!(", \"api-{i}-*.region{i}.cloudhost{}.example\"", i % 7)
        } else {
            String::new()
        };
        t.push_str(&format!(
            "[[service]]\nid = \"svc-{i}\"\nname = \"S{i}\"\nvendor = \"V{i}\"\ncategory = \"chat\"\ncountry = \"US\"\n\
             domains = [\"app{i}.vendor{i}.example\", \"*.vendor{i}-ai.example\"{glob}]\n\
             source = \"https://example.org/{i}\"\ntrains_on_inputs = \"no\"\nretention = \"short\"\nenterprise_offer = true\n\n"
        ));
    }
    let cat = Catalog::from_sources(&[("synthetic.toml".to_string(), t)]).expect("catalog");
    cat.problems.is_empty().then_some(cat)
}

/// The mix for a synthetic catalog: the ordinary names, and hits on its
/// exact names, wildcards and globs.
fn synthetic_mix(n: usize) -> Vec<String> {
    let mut v: Vec<String> = MIX[..10].iter().map(|s| s.to_string()).collect();
    for k in [1, n / 3, n / 2, n - 1] {
        v.push(format!("app{k}.vendor{k}.example"));
        v.push(format!("x.y.vendor{k}-ai.example"));
    }
    let g = (n / 2) / 4 * 4;
    v.push(format!("api-{g}-eu1.region{g}.cloudhost{}.example", g % 7));
    v.push("nothing.vendor-ai.example".into());
    v
}

fn bench_lookups(c: &mut Criterion) {
    let cat = Catalog::builtin();
    let mut g = c.benchmark_group("catalog_lookup");
    g.throughput(Throughput::Elements(MIX.len() as u64));
    g.bench_function("builtin/mix", |b| {
        b.iter(|| {
            MIX.iter()
                .filter(|n| cat.match_name(black_box(n)).is_some())
                .count()
        })
    });
    for (label, globs) in [("size", false), ("size_with_globs", true)] {
        for n in [250, 500, 1000, 2000, 4000] {
            let Some(cat) = synthetic(n, globs) else {
                continue;
            };
            let mix = synthetic_mix(n);
            g.throughput(Throughput::Elements(mix.len() as u64));
            g.bench_with_input(BenchmarkId::new(label, n), &mix, |b, mix| {
                b.iter(|| {
                    mix.iter()
                        .filter(|n| cat.match_name(black_box(n)).is_some())
                        .count()
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench_lookups
}
criterion_main!(benches);
