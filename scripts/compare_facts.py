#!/usr/bin/env python3
"""Compare lanterne --facts output with tshark ground truth (multisets).

usage: compare_facts.py EXPECTED.jsonl ACTUAL.jsonl [--kinds tls_sni,dns_query,...] [-v]
Exit 0 when equal.
"""
import json, sys
from collections import Counter

KINDS = {"tls_sni", "quic_sni", "dns_query", "dns_answer", "http_host"}

def key(f):
    k = (f["src"], f["dst"], f["sport"], f["dport"], f["transport"], f["kind"], f["name"])
    if f["kind"] == "dns_query":
        k += (f.get("qtype"),)
    if f["kind"] == "dns_answer":
        k += (f.get("rtype"), f.get("data"))
    return k

def load(p, kinds):
    out = Counter()
    frames = {}
    with open(p, encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            f = json.loads(line)
            if f["kind"] in kinds:
                out[key(f)] += 1
                frames.setdefault(key(f), []).append(f["frame"])
    return out, frames

def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    kinds = KINDS
    for a in sys.argv[1:]:
        if a.startswith("--kinds="):
            kinds = set(a.split("=", 1)[1].split(","))
    exp, ef = load(args[0], kinds)
    act, af = load(args[1], kinds)
    missing = exp - act
    extra = act - exp
    if "-v" in sys.argv:
        for k, n in sorted(missing.items(), key=str)[:30]:
            print("MISSING", n, k, ef.get(k, [])[:5])
        for k, n in sorted(extra.items(), key=str)[:30]:
            print("EXTRA  ", n, k, af.get(k, [])[:5])
    print(f"{args[0].split('/')[-1]}: expected {sum(exp.values())} actual {sum(act.values())} missing {sum(missing.values())} extra {sum(extra.values())}")
    return 0 if not missing and not extra else 1

sys.exit(main())
