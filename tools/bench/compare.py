#!/usr/bin/env python3
"""Joins two files of `bench` JSON lines (tweedie's and PyTorch's) on op, shape, device and threads,
and prints the medians side by side with the ratio tweedie / other (below 1: tweedie is faster).

    python3 tools/bench/compare.py tweedie.jsonl torch.jsonl
"""
import json
import sys


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                j = json.loads(line)
                rows[(j["op"], tuple(j["shape"]), j["device"].replace("cuda", "cuda:0").replace("cuda:0:", "cuda:"), j["threads"])] = j
    return rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ours, theirs = load(sys.argv[1]), load(sys.argv[2])
    print(f"{'op':<16} {'shape':<22} {'dev':<7} {'thr':>3} {'tweedie ms':>11} {'other ms':>10} {'ratio':>6}")
    for key, a in ours.items():
        b = theirs.get(key)
        if b is None:
            continue
        op, shape, dev, threads = key
        print(f"{op:<16} {str(list(shape)):<22} {dev:<7} {threads:>3} {a['median_ms']:>11.3f} {b['median_ms']:>10.3f} "
              f"{a['median_ms'] / b['median_ms']:>6.2f}")


if __name__ == "__main__":
    main()
