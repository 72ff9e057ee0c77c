#!/usr/bin/env python3
"""tests/bench/tabulate_test.py — bench/tabulate.py reads several processes of one pass as one run.

bench/run runs each binary in several processes (each draws its own memory layout); tabulate.py
must take, per benchmark, one sample from each file (its median over repetitions, or its single
run), use the median of the samples, and show their coefficient of variation as ±. Run by ctest
(bench.tabulate) or directly: python3 tests/bench/tabulate_test.py
"""

import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import tabulate  # noqa: E402

failed = 0


def check(ok, what):
    global failed
    if not ok:
        print("  check failed: " + what)
        failed += 1


def iteration(name, items, cpu_ns=10.0):
    return {"name": name, "run_name": name, "run_type": "iteration", "items_per_second": items,
            "real_time": 1e9 / items, "cpu_time": cpu_ns, "time_unit": "ns"}


def aggregate(name, kind, items):
    return {"name": name + "_" + kind, "run_name": name, "run_type": "aggregate",
            "aggregate_name": kind, "items_per_second": items, "real_time": 1.0,
            "cpu_time": 1.0, "time_unit": "ns"}


SEQ = "BM_bank_sequential/real_time/threads:1"
MUTEX = "BM_bank_mutex/real_time/threads:1"
AUTO = "BM_bank_optimist_auto/real_time/threads:1"


def write(directory, name, entries):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"context": {}, "benchmarks": entries}, f)
    return path


with tempfile.TemporaryDirectory() as d:
    # Three processes of single runs: the sequential model drew one slow layout (300 is the
    # outlier the median must ignore).
    files = [
        write(d, "bank.p1.json", [iteration(SEQ, 100.0, 7.0), iteration(MUTEX, 50.0),
                                  iteration(AUTO, 40.0)]),
        write(d, "bank.p2.json", [iteration(SEQ, 110.0, 9.0), iteration(MUTEX, 60.0),
                                  iteration(AUTO, 44.0)]),
        write(d, "bank.p3.json", [iteration(SEQ, 300.0, 8.0), iteration(MUTEX, 55.0),
                                  iteration(AUTO, 42.0)]),
    ]
    # A process with repetitions gives its median only (its mean and the rest are ignored);
    # with one such file the ± is the repetitions' own.
    files.append(write(d, "vacation.p1.json", [
        aggregate("BM_vacation_mutex/real_time/threads:1", "mean", 999.0),
        aggregate("BM_vacation_mutex/real_time/threads:1", "median", 70.0),
        aggregate("BM_vacation_mutex/real_time/threads:1", "cv", 0.04),
    ]))
    _, runs = tabulate.load(files)

    seq = runs[("bank", "")]["sequential"][1]
    check(len(seq.samples) == 3, f"sequential: {len(seq.samples)} samples, expected 3")
    check(seq.items_per_second == 110.0,
          f"sequential: median {seq.items_per_second}, expected 110 (the median of 100, 110, 300)")
    values = [100.0, 110.0, 300.0]
    mean = sum(values) / 3
    expected_cv = math.sqrt(sum((v - mean) ** 2 for v in values) / 2) / mean
    check(seq.cv is not None and abs(seq.cv - expected_cv) < 1e-9,
          f"sequential: ± {seq.cv}, expected {expected_cv} (between the processes)")
    check(seq.cpu_ns == 8.0, f"sequential: CPU time {seq.cpu_ns} ns, expected the median 8")
    mutex = runs[("bank", "")]["mutex"][1]
    check(mutex.items_per_second == 55.0, f"mutex: median {mutex.items_per_second}, expected 55")

    vacation = runs[("vacation", "")]["mutex"][1]
    check(vacation.items_per_second == 70.0,
          f"vacation: {vacation.items_per_second}, expected the file's median 70 (not its mean)")
    check(vacation.cv == 0.04, f"vacation: ± {vacation.cv}, expected the repetitions' 0.04")

    # The tables: × mutex of the sequential model is 110 / 55.
    out = os.path.join(d, "README.md")
    status = tabulate.main(["--markdown", out] + files)
    check(status == 0, f"tabulate.main returned {status}")
    with open(out, encoding="utf-8") as f:
        text = f.read()
    row = next((line for line in text.splitlines() if line.startswith("| sequential")), "")
    check("2.00×" in row, "the bank table's sequential row has no 2.00× (110 / 55): " + row)
    check(f"±{expected_cv * 100:.0f}%" in row,
          f"the sequential row does not show ±{expected_cv * 100:.0f}%: " + row)

print("tabulate: " + ("all checks passed" if failed == 0 else f"{failed} check(s) FAILED"))
sys.exit(1 if failed else 0)
