#!/usr/bin/env python3
"""Splits a backend's CPU profile (`perf script` of `perf record -g`) into what an order costs.

Usage: perf script | python3 bench/cpu_split.py VARIANT CPU_US_PER_ORDER

Prints one tab-separated line: variant, then CPU_US_PER_ORDER (measured apart, e.g. with
`perf stat -e task-clock`) split by the share of samples in: all, tracking (the variant's
code: its trigger functions, and for the extension any frame of its library, which includes
what it applies at commit), tracking_rows (the part of tracking spent inside PostgreSQL's own row
and index routines: heap inserts, updates and locks, index insertions and lookups, WAL records),
tracking_commit (the part of tracking run from the commit), commit, commit_checks (foreign-key
checks deferred to commit). A sample counts in every
category whose function is on its stack.
"""
import sys

TRACKING = {
    "bare": (),
    "plpgsql": ("plpgsql_call_handler",),
    "extension": ("customer_tracking.so", "ct_link_order", "ct_track_order", "ct_flush_rollups"),
}
ROW_WORK = ("btinsert", "heap_insert", "heap_update", "heap_lock_tuple", "index_getnext_slot",
            "heap_page_prune_opt", "XLogInsert")


def main():
    variant, cpu_us = sys.argv[1], float(sys.argv[2])
    tracking = TRACKING[variant]
    counts = dict.fromkeys(("all", "tracking", "tracking_rows", "tracking_commit", "commit",
                            "commit_checks"), 0)
    stack = []

    def flush():
        if not stack:
            return
        frames = "\n".join(stack)
        counts["all"] += 1
        if any(f in frames for f in tracking):
            counts["tracking"] += 1
            if any(f in frames for f in ROW_WORK):
                counts["tracking_rows"] += 1
            if "CommitTransactionCommand" in frames:
                counts["tracking_commit"] += 1
        if "CommitTransactionCommand" in frames:
            counts["commit"] += 1
            if "AfterTriggerFireDeferred" in frames:
                counts["commit_checks"] += 1
        stack.clear()

    for line in sys.stdin:
        if not line.strip():
            flush()
        elif line[0] in " \t":
            parts = line.split(None, 1)
            if len(parts) == 2:
                stack.append(parts[1])
    flush()
    total = max(counts["all"], 1)
    per_order = [cpu_us * counts[k] / total for k in counts]
    print(variant + "\t" + "\t".join(f"{v:.1f}" for v in per_order))


if __name__ == "__main__":
    main()
