#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for SECONDS each (default 20),
# two at a time, with libFuzzer through cargo-fuzz; RUSTC_BOOTSTRAP=1 lets it
# use the nightly flags on a stable toolchain. Seeds: the corpus captures for
# the reader, and what earlier runs kept (fuzz/corpus/TARGET). A crash stops
# with its input in fuzz/artifacts/TARGET/ (make it a regression test).
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"; shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked -j2
export RUSTC_BOOTSTRAP=1 CARGO_BUILD_JOBS=2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pcap_reader decode tls quic dns http defrag)
cargo fuzz build -O
run() {
  local t=$1; mkdir -p "fuzz/corpus/$t"
  local seeds=()
  [ "$t" = pcap_reader ] && seeds=(tests/data/corpus/pcap)
  cargo fuzz run -O "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    > "fuzz/$t.log" 2>&1 && echo "$t: $(grep -E '^stat::number_of_executed_units' "fuzz/$t.log" | awk '{print $2}') runs, no crash" \
    || { echo "$t: CRASH"; tail -30 "fuzz/$t.log"; return 1; }
}
status=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[$i]}" & a=$!
  b=""
  if [ $((i + 1)) -lt ${#targets[@]} ]; then run "${targets[$((i + 1))]}" & b=$!; fi
  wait $a || status=1
  [ -n "$b" ] && { wait $b || status=1; }
done
exit $status
