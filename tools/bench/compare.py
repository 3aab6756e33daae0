#!/usr/bin/env python3
"""Joins two files of `bench` JSON lines (tweedie's and another implementation's) on op, case, device
and threads, and prints the medians side by side with the ratio other / tweedie (above 1: tweedie is
faster), as `tweedie bench ... --compare OTHER` does for one run. A file may hold several rounds of the same cases (run the two benchmarks alternately and
append): each side then counts with the median of its rounds, which tames a noisy shared machine.

    python3 tools/bench/compare.py tweedie.jsonl torch.jsonl
"""
import collections
import json
import statistics
import sys


def load(path):
    rows = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                j = json.loads(line)
                device = "cuda:0" if j["device"] == "cuda" else j["device"]
                if "shape" in j:
                    case = str(j["shape"])
                else:  # bench unet and train: the case is the model, batch, size and tangents
                    case = f'{j["model"]} b{j["batch"]} {j["size"]}px k{j.get("tangents", 1)}'
                rows[(j["op"], case, device, j["threads"])].append(j["median_ms"])
    return rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ours, theirs = load(sys.argv[1]), load(sys.argv[2])
    print(f"{'op':<16} {'case':<28} {'device':<7} {'threads':>7} {'rounds':>6} {'tweedie ms':>11} {'other ms':>10} {'other/tw':>8}")
    for key, a in ours.items():
        b = theirs.get(key)
        if not b:
            continue
        op, case, device, threads = key
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{op:<16} {case:<28} {device:<7} {threads:>7} {min(len(a), len(b)):>6} {ma:>11.3f} {mb:>10.3f} {mb / ma:>8.2f}")


if __name__ == "__main__":
    main()
