#!/usr/bin/env python3
"""bench/ratios.py — turns Google Benchmark JSON of a BM_<workload>_<variant> binary into a
Markdown table of ratios (standard library only).

    python3 bench/ratios.py [--merge OUT.json] RESULT.json [RESULT.json ...]

Several result files (for instance one run with ITM_DEFAULT_METHOD unset and one with it set to
ml_wt) are read as one set of runs; --merge also writes them out as one JSON file whose context
is the first file's. A benchmark that appears in several files is taken from the first.

With --benchmark_repetitions the table uses the median of each run and shows the coefficient of
variation (cv) of its time; a run without repetitions is used as it is.

Columns, per variant:
  1T ns/tx      nanoseconds per transaction at 1 thread
  x sequential  1T ns/tx divided by the sequential variant's (the cost of synchronisation)
  2T ns/tx      wall-clock nanoseconds per transaction at 2 threads (1 / total throughput)
  2T vs mutex   2-thread throughput divided by the mutex variant's (> 1: faster than the mutex)
  aborts/tx     optimist's aborts per committed transaction at 1 and 2 threads (if reported)
"""

import argparse
import json
import re
import sys

BASELINE_SEQUENTIAL = "sequential"
BASELINE_MUTEX = "mutex"


def load_runs(paths):
    """Returns (context of the first file, list of benchmark entries, runs).

    runs maps (variant, threads) to {"ns": ..., "cv": ..., "aborts": ...}.
    """
    context = None
    entries = []
    seen_names = set()
    runs = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if context is None:
            context = data.get("context", {})
        names_here = set()
        for entry in data.get("benchmarks", []):
            run_name = entry.get("run_name", entry.get("name", ""))
            if run_name in seen_names:
                continue  # taken from an earlier file
            names_here.add(run_name)
            entries.append(entry)
            record_entry(runs, run_name, entry)
        seen_names |= names_here
    return context or {}, entries, runs


def record_entry(runs, run_name, entry):
    match = re.match(r"BM_[a-z0-9]+_([A-Za-z0-9_]+?)(/.*)?$", run_name)
    if not match:
        return
    variant = match.group(1)
    threads = int(entry.get("threads", 1))
    run_type = entry.get("run_type", "iteration")
    aggregate = entry.get("aggregate_name", "")
    run = runs.setdefault((variant, threads), {})
    if run_type == "aggregate" and aggregate == "cv":
        run["cv"] = float(entry.get("real_time", 0.0))
        return
    if run_type == "aggregate" and aggregate != "median":
        return
    if run_type == "iteration" and run.get("from_median"):
        return
    if entry.get("error_occurred"):
        return
    items = entry.get("items_per_second")
    if items:
        run["ns"] = 1e9 / float(items)
    else:
        run["ns"] = to_ns(float(entry["real_time"]), entry.get("time_unit", "ns"))
    if "aborts_per_tx" in entry:
        run["aborts"] = float(entry["aborts_per_tx"])
    run["from_median"] = run_type == "aggregate"
    run["label"] = entry.get("label", "")


def to_ns(value, unit):
    return value * {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def fmt_ns(run):
    if not run or "ns" not in run:
        return "—"
    text = f"{run['ns']:.1f}" if run["ns"] < 100 else f"{run['ns']:.0f}"
    if "cv" in run:
        text += f" ±{run['cv'] * 100:.0f}%"
    return text


def fmt_ratio(value, suffix="×"):
    return "—" if value is None else f"{value:.2f}{suffix}"


def ratio(numerator_run, denominator_run):
    if not numerator_run or not denominator_run:
        return None
    if "ns" not in numerator_run or "ns" not in denominator_run:
        return None
    return numerator_run["ns"] / denominator_run["ns"]


def fmt_small(value):
    if value == 0:
        return "0"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


def fmt_aborts(run_1, run_2):
    parts = []
    for run in (run_1, run_2):
        if run and "aborts" in run:
            parts.append(fmt_small(run["aborts"]))
        else:
            parts.append("—")
    return "—" if parts == ["—", "—"] else " / ".join(parts)


def variant_order(runs):
    """Baselines first, then libitm variants, then optimist ones, then the rest (by name)."""
    def group(variant):
        if variant == BASELINE_SEQUENTIAL:
            return 0
        if variant == BASELINE_MUTEX:
            return 1
        if variant.startswith("gnutm"):
            return 2
        if variant.startswith("optimist"):
            return 3
        return 4

    return sorted({variant for variant, _ in runs}, key=lambda v: (group(v), v))


def table(runs):
    sequential = runs.get((BASELINE_SEQUENTIAL, 1))
    mutex_2 = runs.get((BASELINE_MUTEX, 2))
    lines = [
        "| variant | 1T ns/tx | 1T × sequential | 2T ns/tx | 2T throughput × mutex | aborts/tx (1T / 2T) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for variant in variant_order(runs):
        run_1 = runs.get((variant, 1))
        run_2 = runs.get((variant, 2))
        vs_sequential = ratio(run_1, sequential)
        vs_mutex = ratio(mutex_2, run_2)  # throughput ratio = inverse time ratio
        lines.append(
            f"| {variant} | {fmt_ns(run_1)} | {fmt_ratio(vs_sequential)} | {fmt_ns(run_2)} | "
            f"{fmt_ratio(vs_mutex)} | {fmt_aborts(run_1, run_2)} |")
    return "\n".join(lines)


def targets(runs):
    """The project's targets for optimist, when the runs needed are present."""
    lines = []
    sequential = runs.get((BASELINE_SEQUENTIAL, 1))
    for variant in ("optimist", "optimist_plain"):
        cost = ratio(runs.get((variant, 1)), sequential)
        if cost is not None:
            verdict = "met" if cost <= 2.5 else "missed"
            lines.append(f"- {variant} 1-thread cost / sequential: {cost:.2f}× "
                         f"(target ≤ 2.5×: {verdict})")
    itm = "gnutm_ml_wt" if any(v == "gnutm_ml_wt" for v, _ in runs) else None
    if itm:
        for variant in ("optimist", "optimist_plain"):
            for threads in (1, 2):
                speedup = ratio(runs.get((itm, threads)), runs.get((variant, threads)))
                if speedup is not None:
                    verdict = "met" if speedup > 1.0 else "missed"
                    lines.append(f"- {variant} vs libitm ml_wt at {threads} thread(s): "
                                 f"{speedup:.2f}× as fast (target > 1×: {verdict})")
    return "\n".join(lines)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="Google Benchmark JSON files")
    parser.add_argument("--merge", metavar="OUT", help="also write the merged JSON here")
    args = parser.parse_args(argv)

    context, entries, runs = load_runs(args.results)
    if args.merge:
        with open(args.merge, "w", encoding="utf-8") as f:
            json.dump({"context": context, "benchmarks": entries}, f, indent=2)
            f.write("\n")
    runs = {key: run for key, run in runs.items() if "ns" in run}
    if not runs:
        print("ratios.py: no BM_<workload>_<variant> results found", file=sys.stderr)
        return 1
    print(table(runs))
    summary = targets(runs)
    if summary:
        print()
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
