#!/usr/bin/env bash
# Whole-file throughput: lanterne next to the floor (a plain record walk) and,
# where installed, ndpiReader and tshark, on the standard bench capture.
#
# usage: scripts/bench.sh [--flows N] [--runs R] [--tshark] [--out DIR]
#   --flows N   flows in the generated capture (default 200000: 4.2 M packets, 2.7 GB)
#   --runs R    runs per tool, the median is reported (default 3)
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

# time_cmd NAME CMD... : median wall time and max RSS over $runs runs
results=()
time_cmd() {
  local name="$1"; shift
  local times=() cpus=() rss=0
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %U %S %M" -o "$out/time.txt" "$@" > /dev/null 2>&1 || true
    read -r t u sy m < "$out/time.txt"
    times+=("$t"); cpus+=("$(awk -v a="$u" -v b="$sy" 'BEGIN {print a + b}')"); [ "$m" -gt "$rss" ] && rss=$m
  done
  local med cpu
  med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  cpu=$(printf '%s\n' "${cpus[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  results+=("$name|$med|$rss|$cpu")
}

time_cmd "floor (readwalk.c)" "$out/readwalk" "$pcap"
time_cmd "lanterne read --threads 1" "$bin" read -q --threads 1 "$pcap"
n=$(nproc)
[ "$n" -gt 1 ] && time_cmd "lanterne read --threads $n" "$bin" read -q --threads "$n" "$pcap"
command -v ndpiReader > /dev/null && time_cmd "ndpiReader -q" ndpiReader -q -i "$pcap"
[ "$tshark" = 1 ] && command -v tshark > /dev/null && \
  time_cmd "tshark (tls/quic/dns fields)" tshark -n -r "$pcap" -T fields -e tls.handshake.extensions_server_name -e dns.qry.name

floor=$(echo "${results[0]}" | cut -d'|' -f2)
one=$(echo "${results[1]}" | cut -d'|' -f2)
echo
echo "capture: $pcap ($packets packets), median of $runs runs, $(nproc) cores"
echo
echo "| tool | time (s) | packets/s | vs floor | vs lanterne 1 thread | CPU (s) | peak RSS (MB) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for r in "${results[@]}"; do
  IFS='|' read -r name t rss cpu <<< "$r"
  python3 - "$name" "$t" "$rss" "$floor" "$one" "$packets" "$cpu" <<'PY'
import sys
name, t, rss, floor, one, packets, cpu = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
print(f"| {name} | {t:.2f} | {packets / t / 1e6:.2f} M | {t / floor:.1f}x | {t / one:.2f}x | {cpu:.2f} | {rss / 1024:.0f} |")
PY
done
