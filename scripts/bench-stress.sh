#!/usr/bin/env bash
# Throughput and peak memory under hostile traffic: the attack mix of
# tests/stress.rs (examples/attack_pcap.rs), whole and kind by kind, read with
# several --max-memory budgets and thread counts. Wall time is measured around
# each run, peak RSS is the whole process's (GNU time), the floor is a plain
# record walk of the same file (benches/readwalk.c).
#
# usage: scripts/bench-stress.sh [--scale K] [--runs R] [--out DIR]
#   --scale K   size of the mix (default 8: 1.55 M packets, 320 MB for the whole mix)
#   --runs R    runs per line: median wall time, largest RSS (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
scale=8 runs=3 out=target/bench
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift 2;; --runs) runs="$2"; shift 2;; --out) out="$2"; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
mkdir -p "$out"
cargo build --release -q --example attack_pcap
cargo build --release -q
gcc -O2 -o "$out/readwalk" benches/readwalk.c
for k in all syn hello dns quic frag; do
  f="$out/attack-$scale-$k.pcap"
  if [ ! -f "$f" ]; then
    if [ "$k" = all ]; then sel=syn,hello,dns,quic,frag; else sel=$k; fi
    target/release/examples/attack_pcap "$f" "$scale" "$sel" > "$f.truth.json"
  fi
done
python3 - "$out" "$scale" "$runs" <<'PY'
import json, os, statistics, subprocess, sys, time
out, scale, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])

def run(cmd):
    # Peak RSS through GNU time: a child spawned from this (large) Python
    # process would inherit its high-water mark across exec.
    rss_file = f"{out}/stress-rss.txt"
    t0 = time.perf_counter()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return wall, int(open(rss_file).read().split()[-1]) * 1024

print(f"\nattack mix, scale {scale}, {runs} runs per line (median wall time, largest peak RSS), "
      f"{os.cpu_count()} cores\n")
print("| traffic | packets | MB | --max-memory | threads | time (s) | packets/s | vs floor "
      "| peak RSS (MB) | RSS / budget | evicted | reassembly dropped | DNS names forgotten "
      "| QUIC skipped | untracked host flows | datagrams given up |")
print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for kind in ["all", "syn", "hello", "dns", "quic", "frag"]:
    f = f"{out}/attack-{scale}-{kind}.pcap"
    packets = json.load(open(f + ".truth.json"))["packets"]
    mb = os.path.getsize(f) / 1e6
    subprocess.run(["cat", f], stdout=subprocess.DEVNULL)
    floor = statistics.median(run([f"{out}/readwalk", f])[0] for _ in range(runs))
    for mem, budget in [("64M", 64 << 20), ("256M", 256 << 20), ("1G", 1 << 30)]:
        for th in ["1", "2"]:
            js = f"{out}/stress.json"
            cmd = ["target/release/lanterne", "read", "-q", "--threads", th,
                   "--max-memory", mem, "--json", js, f]
            res = [run(cmd) for _ in range(runs)]
            wall = statistics.median(r[0] for r in res)
            rss = max(r[1] for r in res)
            l = json.load(open(js))["capture"]["limits"]
            print(f"| {kind} | {packets:,} | {mb:.0f} | {mem} | {th} | {wall:.3f} "
                  f"| {packets / wall / 1e6:.2f} M | {wall / floor:.0f}x | {rss / 1e6:.0f} "
                  f"| {rss / budget:.0%} | {l['evicted_flows']:,} | {l['reassembly_dropped']:,} "
                  f"| {l['dns_cache_evictions']:,} | {l['quic_decryptions_skipped']:,} "
                  f"| {l['untracked_host_flows']:,} | {l['defrag_dropped']:,} |", flush=True)
PY
