#!/usr/bin/env bash
# Live-capture throughput: replays a generated capture at top speed into a veth
# pair (far end in a network namespace) while tcpdump, then lanterne, capture on
# the near end; prints packets/s sent and each tool's drops. Needs root,
# iproute2, tcpreplay and tcpdump.
#
# usage: scripts/bench-live.sh [--flows N] [--loop L] [--runs R]
#   --flows N   flows in the generated capture (default 20000: ~420 k packets)
#   --loop L    tcpreplay --loop (default 20)
#   --runs R    runs per tool, alternating (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
flows=20000 loop=20 runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --flows) flows="$2"; shift 2;; --loop) loop="$2"; shift 2;; --runs) runs="$2"; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, raw sockets)" >&2; exit 1; }
for t in ip tcpreplay tcpdump; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
out=target/bench
mkdir -p "$out"
pcap="$out/live-$flows.pcap"
if [ ! -f "$pcap" ]; then
  python3 -c "import cryptography" 2>/dev/null || python3 -m pip install -q cryptography
  python3 tests/tools/gen_bench_pcap.py --out "$pcap" --flows "$flows" --seed 5 >&2
fi
cargo build --release -q
bin=target/release/lanterne

ns=lbench near=lbn0 far=lbf0
cleanup() { ip link del $near 2>/dev/null || true; ip netns del $ns 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add $ns
ip link add $near type veth peer name $far
ip link set $far netns $ns
sysctl -qw net.ipv6.conf.$near.disable_ipv6=1
ip netns exec $ns sysctl -qw net.ipv6.conf.$far.disable_ipv6=1
ip link set $near mtu 9000 up
ip -n $ns link set $far mtu 9000 up

# One replay: prints "pps sent received dropped" for the capture tool given.
replay() {
  ip netns exec $ns tcpreplay --topspeed --loop "$loop" -i $far "$pcap" 2>&1 |
    awk '/Rated:/ {for (i=1;i<=NF;i++) if ($(i+1) ~ /^pps/) pps=$i} /Successful packets:/ {sent=$3} END {print pps, sent}'
}

echo "capture: $pcap x $loop loops, $(nproc) cores, $runs runs each" >&2
results=()
for r in $(seq "$runs"); do
  # tcpdump: the reference (-w /dev/null: capture only).
  tcpdump -i $near -n -q -w /dev/null 2> "$out/tcpdump.err" &
  pid=$!; sleep 1
  read -r pps sent < <(replay)
  sleep 1; kill -INT $pid; wait $pid || true
  rec=$(awk '/received by filter/ {print $1}' "$out/tcpdump.err")
  drop=$(awk '/dropped by kernel/ {print $1}' "$out/tcpdump.err")
  results+=("tcpdump -w /dev/null|$pps|$sent|$rec|$drop")

  $bin capture -i $near -q --json "$out/live.json" --interval 0.5 2> "$out/lanterne.err" &
  pid=$!; sleep 1
  read -r pps sent < <(replay)
  # Wait for the analysis to catch up, then stop.
  for _ in $(seq 100); do
    n=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['capture']['packets'])" "$out/live.json" 2>/dev/null || echo 0)
    [ "$n" -ge "$sent" ] && break; sleep 0.2
  done
  kill -TERM $pid; wait $pid || true
  read -r rec drop < <(python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['capture']; print(c['packets'] + c['duplicates'] + c['drops']['kernel'], c['drops']['kernel'] + c['drops']['interface'])" "$out/live.json")
  results+=("lanterne capture|$pps|$sent|$rec|$drop")
done

echo
echo "| tool | replay rate (packets/s) | sent | seen | dropped |"
echo "|---|---:|---:|---:|---:|"
for l in "${results[@]}"; do
  IFS='|' read -r tool pps sent rec drop <<< "$l"
  echo "| $tool | $pps | $sent | $rec | $drop |"
done
