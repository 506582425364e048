//! Counts the instructions of catalog lookups: run under callgrind with a
//! number of rounds over `testutil::LOOKUP_MIX` (and optionally one name of
//! it), once with 0 rounds for the start-up cost (BENCHMARKS.md, "Catalog
//! lookups"):
//!
//! `valgrind --tool=callgrind target/release/examples/lookup_count 20000 [NAME|-] [clue]`
//! (`clue`: the candidate clue of the names instead of their lookup).

use lanterne::signatures::Catalog;
use lanterne::testutil::LOOKUP_MIX;

fn main() {
    let cat = Catalog::builtin();
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(0, |s| s.parse().unwrap_or(0));
    let only = std::env::args().nth(2).filter(|a| a != "-");
    // A third argument `clue`: the candidate clue instead of the lookup.
    let clues = std::env::args().nth(3).as_deref() == Some("clue");
    let names: Vec<&str> = LOOKUP_MIX
        .iter()
        .copied()
        .filter(|m| only.as_deref().map_or(true, |x| x == *m))
        .collect();
    let mut hits = 0;
    for _ in 0..rounds {
        for m in &names {
            hits += if clues {
                usize::from(lanterne::candidates::clue(&cat, std::hint::black_box(m)).is_some())
            } else {
                usize::from(cat.match_name(std::hint::black_box(m)).is_some())
            };
        }
    }
    println!("{} services, {hits} hits", cat.services.len());
}
