#!/usr/bin/env bash
# Compare lanterne --facts with tshark's ground truth for every corpus capture.
# usage: scripts/corpus_diff.sh [PCAP_DIR] [EXPECTED_DIR] [BIN]
pdir="${1:-../shared/corpus/pcap}"; edir="${2:-../shared/corpus/expected}"; bin="${3:-./target/debug/lanterne}"
for f in "$pdir"/*; do
  n=$(basename "$f"); case $n in ja4__*) continue;; esac
  "$bin" read -q "$f" --facts /tmp/lanterne-facts.jsonl 2>/dev/null
  python3 "$(dirname "$0")/compare_facts.py" "$edir/$n.jsonl" /tmp/lanterne-facts.jsonl | grep -v "missing 0 extra 0"
done
true
