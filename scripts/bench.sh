#!/usr/bin/env bash
# Whole-file throughput: lanterne next to the floor (a plain record walk) and,
# where installed, ndpiReader and tshark, on the standard bench capture.
#
# usage: scripts/bench.sh [--flows N] [--runs R] [--tshark] [--out DIR]
#   --flows N   flows in the generated capture (default 200000: 4.2 M packets, 2.7 GB)
#   --runs R    runs per tool, round-robin; median and best reported (default 3)
#   --tshark    also time tshark (about 370x the floor: minutes on the default file)
#   --out DIR   where the capture and the binaries go (default target/bench)
# Prints a Markdown table: median wall time, packets/s, ratios, median CPU time (user +
# system, steadier than wall time on a shared machine) and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
flows=200000 runs=3 tshark=0 out=target/bench
while [ $# -gt 0 ]; do
  case "$1" in
    --flows) flows="$2"; shift 2;; --runs) runs="$2"; shift 2;;
    --tshark) tshark=1; shift;; --out) out="$2"; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
mkdir -p "$out"
pcap="$out/bench-$flows.pcap"
if [ ! -f "$pcap" ]; then
  python3 -c "import cryptography" 2>/dev/null || python3 -m pip install -q cryptography
  echo "generating $pcap ..." >&2
  python3 tests/tools/gen_bench_pcap.py --out "$pcap" --flows "$flows" --seed 1 >&2
fi
gcc -O2 -o "$out/readwalk" benches/readwalk.c
cargo build --release -q
bin=target/release/lanterne
packets=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['totals']['packets'])" "$pcap.truth.json")
cat "$pcap" > /dev/null   # warm the page cache

# The tools run round-robin (run 1 of every tool, then run 2, ...), so a slow
# phase of a shared machine hits all of them alike; each line reports the median
# and the best wall time, the median CPU time and the largest peak RSS.
names=() cmds=()
add() { names+=("$1"); shift; cmds+=("$(printf '%q ' "$@")"); }
add "floor (readwalk.c)" "$out/readwalk" "$pcap"
add "lanterne read --threads 1" "$bin" read -q --threads 1 "$pcap"
n=$(nproc)
[ "$n" -gt 1 ] && add "lanterne read --threads $n" "$bin" read -q --threads "$n" "$pcap"
command -v ndpiReader > /dev/null && add "ndpiReader -q" ndpiReader -q -i "$pcap"
[ "$tshark" = 1 ] && command -v tshark > /dev/null && \
  add "tshark (tls/quic/dns fields)" tshark -n -r "$pcap" -T fields -e tls.handshake.extensions_server_name -e dns.qry.name
rm -f "$out"/times-*.txt
for _ in $(seq "$runs"); do
  for i in "${!cmds[@]}"; do
    /usr/bin/time -f "%e %U %S %M" -o "$out/time.txt" bash -c "${cmds[$i]}" > /dev/null 2>&1 || true
    cat "$out/time.txt" >> "$out/times-$i.txt"
  done
done

echo
echo "capture: $pcap ($packets packets), $runs runs of each tool round-robin, $(nproc) cores"
echo
echo "| tool | time (s), median | best | packets/s (median) | vs floor | vs lanterne 1 thread | CPU (s) | peak RSS (MB) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
python3 - "$out" "$packets" "${names[@]}" <<'PY'
import statistics, sys
out, packets, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rows = []
for i, name in enumerate(names):
    runs = [list(map(float, l.split())) for l in open(f"{out}/times-{i}.txt") if l.strip()]
    wall = [r[0] for r in runs]
    cpu = [r[1] + r[2] for r in runs]
    rows.append((name, statistics.median(wall), min(wall), statistics.median(cpu), max(r[3] for r in runs)))
floor, one = rows[0][1], rows[1][1]
for name, t, best, cpu, rss in rows:
    print(f"| {name} | {t:.2f} | {best:.2f} | {packets / t / 1e6:.2f} M | {t / floor:.1f}x "
          f"| {t / one:.2f}x | {cpu:.2f} | {rss / 1024:.0f} |")
PY
