#!/usr/bin/env python3
"""bench/tabulate.py — turns the suite's Google Benchmark JSON into Markdown tables of ratios and
an SVG plot (python3 standard library only).

    python3 bench/tabulate.py --markdown OUT.md --svg OUT.svg [--machine MACHINE.json] RESULT.json...

Benchmarks are named BM_<workload>_<model>[/<arg>:<value>...][/real_time][/threads:<n>], with
<model> one of sequential, mutex, spin, spec_mutex, gnutm, gnutm_<itm method>, optimist_stm,
optimist_htm, optimist_serial (any optimist_<x>). Thread counts come from threads:<n>, whether
Google Benchmark started the threads (->Threads) or the model's runtime did (->Arg, named
"threads"). Other arguments (words:8) make separate cases of one workload.

Throughput is items_per_second (operations, transactions, accounts or trains per second, as each
workload defines its items). Each benchmark's samples are the medians of its repetitions
(--benchmark_repetitions) or its single runs, one per file that has it: bench/run runs every
binary in several processes, since a process's memory layout (ASLR) alone moves a result by up to
about 20 % on this machine. The median of the samples is used, and their coefficient of variation
shown as ± (with one sample, the repetitions' own). Ratios are of throughput, so above 1 is faster:
  × sequential   the model at T threads against the sequential baseline (1 thread)
  × mutex        the model at T threads against the global std::mutex at T threads
  ÷ best lock    the model at T threads against the fastest of std::mutex and the spin lock at T
                 threads (each also taken once per chunk in the parallel loops: mutex_chunk,
                 spin_chunk), in the summary and the targets
Several files (the processes of one pass, the runner's second pass with ITM_DEFAULT_METHOD=ml_wt)
are read as one run.
"""

import argparse
import html
import json
import math
import re
import statistics
import sys
from collections import defaultdict

MODEL_PATTERN = re.compile(
    r"^BM_(?P<workload>.+?)_(?P<model>sequential|mutex(?:_chunk)?|spin(?:_chunk)?|spec_mutex|tbb|"
    r"gnutm(?:_[a-z_]+)?|"
    r"optimist(?:_[a-z_]+)?)$")
BASELINE_SEQUENTIAL = "sequential"
BASELINE_MUTEX = "mutex"
# The locks a user would keep instead of optimist: "best lock" is the fastest of these (the
# _chunk variants take the lock once per chunk of a parallel loop: bench/common/parallel_loop.hpp).
SIMPLE_LOCKS = ("mutex", "spin", "mutex_chunk", "spin_chunk")
# Workloads with more cases than this get one compact table (cases × models) per thread count.
COMPACT_ABOVE = 3


class Run:
    """One benchmark at one thread count: throughput and what else the JSON said."""

    def __init__(self):
        self.items_per_second = None
        self.cv = None
        self.counters = {}
        self.label = ""
        self.error = None
        self.cpu_ns = None  # CPU time per iteration of the measuring thread(s)
        # One per file (process) that ran it: its median over repetitions, or its single run.
        self.samples = []  # (items_per_second, cpu_ns)
        self.sample_cvs = []

    def settle(self):
        """Sets items_per_second, cpu_ns and cv from the samples."""
        if not self.samples:
            return
        values = [s[0] for s in self.samples]
        self.items_per_second = statistics.median(values)
        cpus = [s[1] for s in self.samples if s[1] is not None]
        self.cpu_ns = statistics.median(cpus) if cpus else None
        if len(values) > 1:
            mean = statistics.mean(values)
            self.cv = statistics.stdev(values) / mean if mean > 0 else None
        elif self.sample_cvs:
            self.cv = self.sample_cvs[0]


def parse_name(run_name):
    """Returns (workload, model, case, threads) or None for names outside the convention."""
    parts = run_name.split("/")
    match = MODEL_PATTERN.match(parts[0])
    if not match:
        return None
    threads = 1
    case = []
    for part in parts[1:]:
        if part == "real_time" or part.startswith("min_time:") or part.startswith("repeats:"):
            continue
        if part.startswith("threads:"):
            threads = int(part.split(":", 1)[1])
        else:
            case.append(part)
    return match.group("workload"), match.group("model"), "/".join(case), threads


def load(paths):
    """Returns (contexts, runs) with runs[(workload, case)][model][threads] = Run."""
    contexts = []
    runs = defaultdict(lambda: defaultdict(dict))
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        contexts.append(data.get("context", {}))
        entries = data.get("benchmarks", [])
        # A file with medians (repetitions) gives those; one without, its single runs.
        with_medians = {e.get("run_name", e.get("name", "")) for e in entries
                        if e.get("run_type") == "aggregate" and e.get("aggregate_name") == "median"}
        for entry in entries:
            record(runs, entry, with_medians)
    for by_model in runs.values():
        for by_threads in by_model.values():
            for run in by_threads.values():
                run.settle()
    return contexts, runs


def record(runs, entry, with_medians):
    name = entry.get("run_name", entry.get("name", ""))
    parsed = parse_name(name)
    if parsed is None:
        return
    workload, model, case, threads = parsed
    run = runs[(workload, case)][model].setdefault(threads, Run())
    run_type = entry.get("run_type", "iteration")
    aggregate = entry.get("aggregate_name", "")
    if entry.get("error_occurred"):
        run.error = entry.get("error_message", "error")
        return
    if run_type == "aggregate":
        if aggregate == "cv":
            run.sample_cvs.append(float(entry.get("items_per_second", entry.get("real_time", 0.0))))
            return
        if aggregate != "median":
            return
    elif name in with_medians:
        return
    unit_ns = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[entry.get("time_unit", "ns")]
    cpu_ns = float(entry["cpu_time"]) * unit_ns if entry.get("cpu_time") is not None else None
    items = entry.get("items_per_second")
    if items:
        run.samples.append((float(items), cpu_ns))
    elif entry.get("real_time"):
        unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[entry.get("time_unit", "ns")]
        run.samples.append((1.0 / (float(entry["real_time"]) * unit), cpu_ns))
    for key in ("aborts_per_tx", "irrevocable_per_tx", "sweeps", "hw_attempts_per_tx",
                "hw_commits_per_tx"):
        if key in entry:
            run.counters[key] = float(entry[key])
    run.label = entry.get("label", "")


def model_order(models):
    """Baselines first, then the locks, libitm, optimist."""
    def rank(model):
        for i, prefix in enumerate(("sequential", "mutex", "spin", "spec_mutex", "tbb", "gnutm",
                                    "optimist")):
            if model == prefix or model.startswith(prefix + "_"):
                return (i, model)
        return (9, model)
    return sorted(models, key=rank)


def throughput(run):
    return run.items_per_second if run is not None and run.error is None else None


def ratio(a, b):
    return a / b if a is not None and b is not None and b > 0 else None


def fmt_rate(value):
    if value is None:
        return "—"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def fmt_ratio(value):
    if value is None:
        return "—"
    if value < 0.1:
        return f"{value:.2g}×"
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def fmt_cell(run):
    if run is None:
        return "—"
    if run.error is not None:
        return "error: " + run.error.replace("|", "/")
    text = fmt_rate(run.items_per_second) + "/s"
    if run.cv is not None:
        text += f" ±{run.cv * 100:.0f}%"
    return text


def fmt_aborts(model_runs, thread_counts, key="aborts_per_tx"):
    parts = []
    for t in thread_counts:
        run = model_runs.get(t)
        if run is None or key not in run.counters:
            parts.append("—")
        else:
            value = run.counters[key]
            parts.append("0" if value == 0 else (f"{value:.1e}" if value < 0.001 else f"{value:.3f}"))
    return " / ".join(parts)


def label_notes(by_model):
    """Labels (what ran: libitm's method, no RTM) as footnote lines."""
    notes = []
    for model in model_order(by_model):
        labels = sorted({run.label for run in by_model[model].values() if run.label})
        if labels:
            notes.append(f"{model}: " + "; ".join(labels))
    return notes


def full_table(by_model, thread_counts):
    sequential = throughput(by_model.get(BASELINE_SEQUENTIAL, {}).get(1))
    header = "| model |"
    rule = "|---|"
    for t in thread_counts:
        header += f" {t}T items/s | {t}T × seq | {t}T × mutex |"
        rule += "---:|---:|---:|"
    has_aborts = any("aborts_per_tx" in run.counters
                     for runs in by_model.values() for run in runs.values())
    if has_aborts:
        header += " aborts/tx (" + " / ".join(f"{t}T" for t in thread_counts) + ") |"
        rule += "---:|"
    has_hardware = any("hw_attempts_per_tx" in run.counters
                       for runs in by_model.values() for run in runs.values())
    if has_hardware:
        header += " hw attempts/tx (" + " / ".join(f"{t}T" for t in thread_counts) + ") |"
        rule += "---:|"
    lines = [header, rule]
    for model in model_order(by_model):
        runs = by_model[model]
        row = f"| {model} |"
        for t in thread_counts:
            run = runs.get(t)
            mutex = throughput(by_model.get(BASELINE_MUTEX, {}).get(t))
            row += (f" {fmt_cell(run)} | {fmt_ratio(ratio(throughput(run), sequential))} |"
                    f" {fmt_ratio(ratio(throughput(run), mutex))} |")
        if has_aborts:
            row += f" {fmt_aborts(runs, thread_counts)} |"
        if has_hardware:
            row += f" {fmt_aborts(runs, thread_counts, 'hw_attempts_per_tx')} |"
        lines.append(row)
    return lines


def case_value(case, key):
    for part in case.split("/"):
        if part.startswith(key + ":"):
            try:
                return int(part.split(":", 1)[1])
            except ValueError:
                return None
    return None


def case_sort_key(case):
    numbers = [int(n) for n in re.findall(r"\d+", case)]
    return (re.sub(r"\d+", "", case), numbers)


def fmt_ns(ns):
    if ns >= 100:
        return f"{ns:.0f}"
    return f"{ns:.1f}" if ns >= 10 else f"{ns:.2f}"


def compact_table(cases, thread_count):
    """cases: {case: by_model}. Rows are cases, columns models; cells are wall-clock ns per item
    (1 / throughput over all threads) and, where the case has words:<n>, ns per word."""
    models = model_order({m for by_model in cases.values() for m in by_model})
    if thread_count != 1:
        models = [m for m in models if m != BASELINE_SEQUENTIAL]
    lines = ["| case | " + " | ".join(models) + " |",
             "|---|" + "---:|" * len(models)]
    for case in sorted(cases, key=case_sort_key):
        by_model = cases[case]
        words = case_value(case, "words")
        cells = []
        for model in models:
            run = by_model.get(model, {}).get(thread_count)
            value = throughput(run)
            if run is not None and run.error is not None:
                cells.append("error")
            elif value is None:
                cells.append("—")
            else:
                ns = 1e9 / value
                cells.append(fmt_ns(ns) + (f" · {fmt_ns(ns / words)}" if words else ""))
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return lines


def group_by_workload(runs):
    workloads = defaultdict(dict)
    for (workload, case), by_model in runs.items():
        workloads[workload][case] = by_model
    return workloads


def all_thread_counts(runs):
    return sorted({t for by_model in runs.values() for r in by_model.values() for t in r})


def targets(runs):
    """The issue's targets, where the runs needed are present."""
    lines = []
    # The target is about transfers: the case without audits (which make the
    # sequential loop itself slow and the ratio look small).
    bank_case = "audit_pct:0" if ("bank", "audit_pct:0") in runs else ""
    bank = runs.get(("bank", bank_case))
    if bank:
        seq = throughput(bank.get(BASELINE_SEQUENTIAL, {}).get(1))
        for model in model_order(m for m in bank if m.startswith("optimist")):
            run = bank[model].get(1)
            cost = ratio(seq, throughput(run))
            if cost is not None:
                verdict = "met" if cost <= 2.5 else "missed"
                seq_run = bank[BASELINE_SEQUENTIAL][1]
                cpu = ratio(run.cpu_ns, seq_run.cpu_ns)
                cpu_text = f"; in CPU time {cpu:.1f}×" if cpu is not None else ""
                name = f"bank {bank_case}" if bank_case else "bank"
                lines.append(f"- {name}, 1 thread: {model} takes {cost:.1f}× the sequential time "
                             f"per operation (wall clock{cpu_text}; target ≤ 2.5×: {verdict})")
    for (workload, case), by_model in sorted(runs.items()):
        if not re.search(r"bank|rbtree|red_black|vacation", workload) or case == "audit_pct:0":
            continue
        for model in model_order(m for m in by_model if m.startswith("optimist")):
            mine = throughput(by_model[model].get(2))
            best, best_name = best_lock(by_model, 2)
            rivals = [(f"the best lock ({best_name})", best)] if best is not None else []
            rivals += [(m, throughput(by_model[m].get(2)))
                       for m in model_order(m for m in by_model if m.startswith("gnutm"))]
            for rival, theirs in rivals:
                speedup = ratio(mine, theirs)
                if speedup is not None:
                    verdict = "ahead" if speedup > 1.0 else "behind"
                    name = workload + (f" {case}" if case else "")
                    lines.append(f"- {name}, 2 threads: {model} has {speedup:.2f}× the "
                                 f"throughput of {rival} ({verdict})")
    return lines


HEADLINE_MODELS = (
    "mutex", "spin", "mutex_chunk", "spin_chunk", "spec_mutex", "gnutm", "gnutm_ml_wt",
    "optimist", "optimist_auto", "optimist_stm", "optimist_htm", "optimist_serial",
    "optimist_stm_tbb", "optimist_itm")


def headline(runs):
    """One row per workload case (per-access left out): each model's throughput × sequential at
    1 thread and ÷ the best lock at 2 threads (or the largest count measured)."""
    thread_counts = all_thread_counts(runs)
    many = 2 if 2 in thread_counts else max(thread_counts)
    present = {m for by_model in runs.values() for m in by_model}
    models = [m for m in HEADLINE_MODELS if m in present]
    lines = [f"Cells: 1 thread × sequential / {many} threads ÷ best lock (throughput ratios; above "
             "1× is faster; the best lock is the fastest of std::mutex and the spin lock, per "
             "critical section or, in the parallel loops, per chunk, at that thread count).", "",
             "| workload | " + " | ".join(models) + " |",
             "|---|" + "---:|" * len(models)]
    for (workload, case), by_model in sorted(runs.items(),
                                             key=lambda kv: (kv[0][0], case_sort_key(kv[0][1]))):
        if workload.startswith("per_access") or not any(l in by_model for l in SIMPLE_LOCKS):
            continue
        seq = throughput(by_model.get(BASELINE_SEQUENTIAL, {}).get(1))
        mutex = best_lock(by_model, many)[0]
        cells = []
        for model in models:
            runs_of_model = by_model.get(model, {})
            one = ratio(throughput(runs_of_model.get(1)), seq)
            two = ratio(throughput(runs_of_model.get(many)), mutex)
            cells.append("—" if one is None and two is None
                         else f"{fmt_ratio(one)} / {fmt_ratio(two)}")
        name = workload + (f" {case}" if case else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def best_lock(by_model, threads):
    """(throughput, name) of the fastest simple lock (SIMPLE_LOCKS) at `threads`, or (None, None)."""
    best = (None, None)
    for lock in SIMPLE_LOCKS:
        value = throughput(by_model.get(lock, {}).get(threads))
        if value is not None and (best[0] is None or value > best[0]):
            best = (value, lock)
    return best


def versus_best_lock(runs):
    """One row per workload case: each optimist model's throughput ÷ the best simple lock's
    (the fastest of SIMPLE_LOCKS there) at 1 thread and at 2 (or the largest count measured),
    and which lock that was."""
    thread_counts = all_thread_counts(runs)
    many = 2 if 2 in thread_counts else max(thread_counts)
    counts = [1, many] if many != 1 else [1]
    present = {m for by_model in runs.values() for m in by_model}
    models = model_order(m for m in present if m.startswith("optimist"))
    if not models:
        return []
    lines = [f"Cells: optimist ÷ best lock at {' / '.join(f'{t}T' for t in counts)} (throughput "
             "ratios; the best lock is the fastest of std::mutex and the spin lock, per critical "
             "section or, in the parallel loops, per chunk, at that thread count; target ≥ 0.9×).",
             "",
             "| workload | " + " | ".join(f"{m} / best lock" for m in models) +
             " | best lock (" + " / ".join(f"{t}T" for t in counts) + ") |",
             "|---|" + "---:|" * len(models) + "---|"]
    for (workload, case), by_model in sorted(runs.items(),
                                             key=lambda kv: (kv[0][0], case_sort_key(kv[0][1]))):
        if workload.startswith("per_access") or not any(l in by_model for l in SIMPLE_LOCKS):
            continue
        bests = {t: best_lock(by_model, t) for t in counts}
        cells = []
        for model in models:
            values = [ratio(throughput(by_model.get(model, {}).get(t)), bests[t][0])
                      for t in counts]
            cells.append("—" if all(v is None for v in values)
                         else " / ".join(fmt_ratio(v) for v in values))
        names = " / ".join(bests[t][1] or "—" for t in counts)
        name = workload + (f" {case}" if case else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {names} |")
    return lines


def machine_lines(machine, contexts):
    lines = []
    if machine:
        for key, title in (("cpu", "Machine"), ("cores", "Cores online"),
                           ("load_before", "Load average before (1, 5, 15 min)"),
                           ("load_after", "Load average after"), ("date", "Date"),
                           ("compiler", "Compiler"), ("commit", "Commit"),
                           ("command", "Command"), ("settings", "Settings")):
            if machine.get(key):
                value = machine[key]
                if key == "command":
                    value = f"`{value}`"
                lines.append(f"- {title}: {value}")
    if contexts:
        c = contexts[0]
        if c.get("cpu_has_rtm"):
            lines.append(f"- CPU has RTM (CPUID): {c['cpu_has_rtm']}")
        if c.get("num_cpus"):
            lines.append(f"- Google Benchmark context: {c.get('num_cpus')} CPUs at "
                         f"{c.get('mhz_per_cpu', '?')} MHz, library build "
                         f"{c.get('library_build_type', '?')}")
    return lines


def markdown(runs, contexts, machine):
    thread_counts = all_thread_counts(runs)
    out = ["# optimist benchmark suite: every model, side by side", ""]
    out += [
        "Generated by `bench/run` (bench/tabulate.py) from the JSON beside this file. Each workload",
        "runs under every model in one binary; ratios are of throughput (items per second as the",
        "workload defines them), so above 1× is faster. × seq: against the uninstrumented",
        "sequential code at 1 thread; × mutex: against one global `std::mutex` at the same thread",
        "count; ÷ best lock (summary, targets): against the fastest of `std::mutex` and a",
        "test-and-test-and-set spin lock (model `spin`), each taken per critical section or, in the",
        "parallel loops (interest, train), once per chunk of the loop (`mutex_chunk`,",
        "`spin_chunk`). Each binary runs in several processes",
        "(a process's memory layout alone moves a result by up to about 20 % here): a cell is the",
        "median over the processes, and ± the coefficient of variation between them (with one",
        "process, between its repetitions). The machine is shared",
        "(2 cores, other jobs running): absolute numbers are noisy, compare ratios, and distrust",
        "differences of less than about 20 %.",
        "",
    ]
    out += machine_lines(machine, contexts)
    out += ["", "## Summary", ""] + headline(runs)
    lines = versus_best_lock(runs)
    if lines:
        out += ["", "### optimist / best lock", ""] + lines
    lines = targets(runs)
    if lines:
        out += ["", "## Targets", ""] + lines
    for workload, cases in sorted(group_by_workload(runs).items()):
        out += ["", f"## {workload}", ""]
        if len(cases) > COMPACT_ABOVE:
            for t in thread_counts:
                out += [f"{t} thread(s): wall-clock ns per transaction · per word "
                        f"(1 / throughput over all threads; lower is better)", ""]
                out += compact_table(cases, t) + [""]
        else:
            for case in sorted(cases, key=case_sort_key):
                if case:
                    out += [f"### {workload} {case}", ""]
                out += full_table(cases[case], thread_counts) + [""]
        notes = sorted({n for by_model in cases.values() for n in label_notes(by_model)})
        if notes:
            out += ["What ran:", ""] + [f"- {n}" for n in notes]
    return "\n".join(out).rstrip() + "\n"


# ---- the plot ----------------------------------------------------------------------------------

PALETTE = {"sequential": "#7f7f7f", "mutex": "#1f77b4", "spin": "#9467bd", "spec_mutex": "#17becf",
           "gnutm": "#ff7f0e", "gnutm_ml_wt": "#d62728", "optimist_stm": "#2ca02c",
           "optimist_serial": "#bcbd22",
           "optimist_htm": "#98df8a", "optimist_stm_tbb": "#006400", "optimist_itm": "#8c564b",
           "mutex_chunk": "#aec7e8", "spin_chunk": "#c5b0d5", "optimist_auto": "#e377c2",
           "optimist": "#f7b6d2"}


def plot_groups(runs, threads):
    """(title, {model: throughput × mutex}) per workload case at `threads`; for per-access only
    1 and 64 words, to keep the plot readable."""
    groups = []
    for (workload, case), by_model in sorted(runs.items(), key=lambda kv: (kv[0][0],
                                                                          case_sort_key(kv[0][1]))):
        words = case_value(case, "words")
        if words is not None and words not in (1, 64):
            continue
        mutex = throughput(by_model.get(BASELINE_MUTEX, {}).get(threads))
        if not mutex:
            continue
        values = {}
        for model in model_order(by_model):
            if model in (BASELINE_MUTEX, BASELINE_SEQUENTIAL):
                continue
            value = ratio(throughput(by_model[model].get(threads)), mutex)
            if value is not None:
                values[model] = value
        if values:
            groups.append((workload + (f" {case}" if case else ""), values))
    return groups


def svg(runs, title_suffix=""):
    thread_counts = all_thread_counts(runs)
    threads = 2 if 2 in thread_counts else max(thread_counts)
    groups = plot_groups(runs, threads)
    models = model_order({m for _, values in groups for m in values})
    # Log axis of throughput × mutex, whole decades around the data, at least 0.1× to 10×.
    values_all = [v for _, values in groups for v in values.values() if v > 0] or [1.0]
    lo = min(0.1, 10 ** math.floor(math.log10(min(values_all))))
    hi = max(10.0, 10 ** math.ceil(math.log10(max(values_all))))
    left, right, bar_h, gap = 230, 40, 9, 12
    width = 900
    plot_w = width - left - right
    # Legend entries, wrapped onto as many lines as they need.
    legend = []
    lx, ly = left, 46
    for model in models:
        item_w = 14 + 7 * len(model) + 16
        if lx + item_w > width - 10 and lx > left:
            lx, ly = left, ly + 14
        legend.append((model, lx, ly))
        lx += item_w
    top = ly + 24
    height = top + sum(len(v) * bar_h + gap for _, v in groups) + 60

    def x(value):
        value = min(max(value, lo), hi)
        return left + plot_w * (math.log10(value) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">'
           f'Throughput relative to one global std::mutex, {threads} threads{html.escape(title_suffix)}'
           f'</text>',
           f'<text x="{width / 2}" y="36" text-anchor="middle" fill="#555">'
           f'log scale; right of the line is faster than the mutex; noisy shared 2-core machine</text>']
    for model, lx, ly in legend:
        out.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" '
                   f'fill="{PALETTE.get(model, "#444")}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly + 9}">{html.escape(model)}</text>')
    # grid
    y_end = height - 40
    ticks = []
    decade = lo
    while decade <= hi * 1.001:
        ticks += [decade, 3 * decade] if 3 * decade < hi else [decade]
        decade *= 10
    for tick in ticks:
        tx = x(tick)
        stroke = "#000" if tick == 1 else "#ddd"
        out.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{y_end}" stroke="{stroke}"/>')
        out.append(f'<text x="{tx:.1f}" y="{y_end + 14}" text-anchor="middle">{tick:g}×</text>')
    y = top
    for title, values in groups:
        group_h = len(values) * bar_h
        out.append(f'<text x="{left - 8}" y="{y + group_h / 2 + 4:.1f}" text-anchor="end">'
                   f'{html.escape(title)}</text>')
        for model in model_order(values):
            value = values[model]
            x0, x1 = x(1.0), x(value)
            out.append(f'<rect x="{min(x0, x1):.1f}" y="{y}" width="{abs(x1 - x0):.1f}" '
                       f'height="{bar_h - 1}" fill="{PALETTE.get(model, "#444")}">'
                       f'<title>{html.escape(title)} {html.escape(model)}: {value:.3g}×</title></rect>')
            y += bar_h
        y += gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="Google Benchmark JSON files")
    parser.add_argument("--markdown", help="write the tables here (default: stdout)")
    parser.add_argument("--svg", help="write the plot here")
    parser.add_argument("--machine", help="JSON describing the machine and the run (bench/run)")
    parser.add_argument("--fail-on-error", action="store_true",
                        help="exit with status 3 if any benchmark reported an error")
    args = parser.parse_args(argv)

    contexts, runs = load(args.results)
    if not runs:
        print("tabulate.py: no BM_<workload>_<model> results found", file=sys.stderr)
        return 1
    machine = {}
    if args.machine:
        with open(args.machine, encoding="utf-8") as f:
            machine = json.load(f)
    text = markdown(runs, contexts, machine)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as f:
            f.write(svg(runs))
    errors = [(workload, case, model, threads, run.error)
              for (workload, case), by_model in sorted(runs.items())
              for model, by_threads in by_model.items()
              for threads, run in sorted(by_threads.items()) if run.error is not None]
    for workload, case, model, threads, error in errors:
        print(f"tabulate.py: BM_{workload}_{model} {case} at {threads} thread(s): {error}",
              file=sys.stderr)
    return 3 if errors and args.fail_on_error else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
