#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that a benchmark printed one JSON object with the agreed keys.

    bench/ring --quick --json | check-bench-json.py [ring]
    bench/xlbench --quick --json | check-bench-json.py xlbench
    bench/xlscale --quick --json | check-bench-json.py xlscale

It checks the shape and the internal consistency (every figure a positive
number, each median the median of its rounds, the ratios and verdicts
derived from the figures), not the speed: performance is judged by
reading the benchmark, never by a timed test.
"""
import json
import math
import statistics
import sys


def is_num(val):
    # bool is an int in Python; a true/false where a figure belongs is wrong
    return (isinstance(val, (int, float)) and not isinstance(val, bool)
            and math.isfinite(val))


def positive_members(doc, key, members, errors):
    obj = doc.get(key)
    if not isinstance(obj, dict):
        errors.append(f"{key}: missing or not an object")
        return None
    for member in members:
        val = obj.get(member)
        if not is_num(val) or val <= 0:
            errors.append(f"{key}.{member}: missing or not a positive number")
    return obj


def check_ring(doc, errors):
    for key in ("pingpong_p50_ns", "pingpong_p99_ns", "stream_MBps"):
        positive_members(doc, key, ("ring", "tcp", "unix"), errors)


XL_FIGURES = ("sockperf_pingpong_p50_us", "sockperf_throughput_MBps",
              "iperf3_Gbps")
XL_COLUMNS = ("tcp", "xenloop", "loopback")
# ratio name -> (figure, numerator column, denominator column)
XL_RATIOS = {
    "pingpong_p50_tcp_over_xenloop": (XL_FIGURES[0], "tcp", "xenloop"),
    "pingpong_p50_loopback_over_xenloop":
        (XL_FIGURES[0], "loopback", "xenloop"),
    "throughput_xenloop_over_tcp": (XL_FIGURES[1], "xenloop", "tcp"),
    "throughput_xenloop_over_loopback":
        (XL_FIGURES[1], "xenloop", "loopback"),
    "iperf3_xenloop_over_tcp": (XL_FIGURES[2], "xenloop", "tcp"),
    "iperf3_xenloop_over_loopback": (XL_FIGURES[2], "xenloop", "loopback"),
}


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_xl_runs(doc, figs, errors):
    """Each figure is the median of its rounds' figures."""
    rounds = doc.get("config", {}).get("rounds")
    if not is_num(rounds) or rounds < 1:
        errors.append("config.rounds: missing or not a positive number")
        return
    runs = doc.get("runs")
    if not isinstance(runs, dict):
        errors.append("runs: missing or not an object")
        return
    for key, obj in figs.items():
        for col in XL_COLUMNS:
            vals = runs.get(key, {}).get(col)
            if (not isinstance(vals, list) or len(vals) != rounds
                    or not all(is_num(v) and v > 0 for v in vals)):
                errors.append(f"runs.{key}.{col}: not {rounds} positive "
                              "numbers")
            elif is_num(obj.get(col)) and not close(
                    statistics.median(vals), obj[col]):
                errors.append(f"{key}.{col}: not the median of its rounds")


def check_xl_derived(doc, figs, errors):
    """The ratios and the acceptance verdicts follow from the figures."""
    ratios = doc.get("ratios")
    if not isinstance(ratios, dict):
        errors.append("ratios: missing or not an object")
        return
    for name, (key, num, den) in XL_RATIOS.items():
        val = ratios.get(name)
        if not is_num(val) or val <= 0:
            errors.append(f"ratios.{name}: missing or not a positive number")
        elif key in figs and not close(val, figs[key][num] / figs[key][den]):
            errors.append(f"ratios.{name}: not {key}.{num}/{key}.{den}")
    acc = doc.get("acceptance")
    if not isinstance(acc, dict):
        errors.append("acceptance: missing or not an object")
        return
    # verdict -> (figure, the larger side if it holds, the other, factor)
    want = {
        "pingpong_p50_at_most_fifth_of_tcp":
            (XL_FIGURES[0], "tcp", "xenloop", 5),
        "iperf3_at_least_twice_tcp": (XL_FIGURES[2], "xenloop", "tcp", 2),
    }
    for name, (key, big, small, factor) in want.items():
        val = acc.get(name)
        if not isinstance(val, bool):
            errors.append(f"acceptance.{name}: missing or not true/false")
        elif key in figs and val != (
                figs[key][big] >= factor * figs[key][small]):
            errors.append(f"acceptance.{name}: contradicts {key}")


def check_xlbench(doc, errors):
    figs = {}
    for key in XL_FIGURES:
        obj = positive_members(doc, key, XL_COLUMNS, errors)
        if obj is not None and all(is_num(obj.get(c)) and obj[c] > 0
                                   for c in XL_COLUMNS):
            figs[key] = obj
    share = doc.get("ring_share")
    if not is_num(share) or not 0 <= share <= 1:
        errors.append("ring_share: missing or not a number in [0, 1]")
    check_xl_runs(doc, figs, errors)
    check_xl_derived(doc, figs, errors)


SCALE_RATES = ("short_conn_rate", "oversubscribed", "redis_ops", "nginx_rps")
SCALE_TARGETS = {
    "connections_at_least_10000":
        lambda d: d["connections"] >= 10000,
    "ring_bytes_per_idle_conn_at_most_32768":
        lambda d: d["ring_bytes_per_idle_conn"] <= 32768,
    "short_conn_at_least_0.95x":
        lambda d: (d["short_conn_rate"]["ratio"] >= 0.95 and
                   d["short_conn_rate"]["ratio_client_only"] >= 0.95),
    "oversubscribed_at_least_1x": lambda d: d["oversubscribed"]["ratio"] >= 1,
    "redis_at_least_2x": lambda d: d["redis_ops"]["ratio"] >= 2,
    "nginx_at_least_1.5x": lambda d: d["nginx_rps"]["ratio"] >= 1.5,
    "noaccel_overhead_at_most_1.05x": lambda d: d["noaccel_overhead"] <= 1.05,
}


def check_xlscale(doc, errors):
    """Every figure there and positive (the library reached some
    connections, the rings hold some memory), each ratio xenloop / tcp,
    each verdict what the figures say."""
    for key in ("connections", "connections_tcp", "ring_bytes_per_idle_conn",
                "noaccel_overhead"):
        if not is_num(doc.get(key)) or doc[key] <= 0:
            errors.append(f"{key}: missing or not a positive number")
    idle = doc.get("idle_cpu_s")
    if not is_num(idle) or idle < 0:
        errors.append("idle_cpu_s: missing or not a number >= 0")
    for key in SCALE_RATES:
        obj = positive_members(doc, key, ("tcp", "xenloop", "ratio"), errors)
        if obj is None or not all(is_num(obj.get(c)) and obj[c] > 0
                                  for c in ("tcp", "xenloop", "ratio")):
            continue
        if not close(obj["ratio"], obj["xenloop"] / obj["tcp"]):
            errors.append(f"{key}.ratio: not xenloop / tcp")
    share = doc.get("ring_share")
    if not is_num(share) or not 0 < share <= 1:
        errors.append("ring_share: missing or not a number in (0, 1]")
    acc = doc.get("acceptance")
    if not isinstance(acc, dict):
        errors.append("acceptance: missing or not an object")
        return
    if errors:
        return
    for name, rule in SCALE_TARGETS.items():
        if acc.get(name) is not rule(doc):
            errors.append(f"acceptance.{name}: not what the figures say")
    if not isinstance(acc.get("idle_cpu_under_1s"), bool):
        errors.append("acceptance.idle_cpu_under_1s: missing")


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else "ring"
    checks = {"ring": check_ring, "xlbench": check_xlbench,
              "xlscale": check_xlscale}
    if kind not in checks or len(sys.argv) > 2:
        print("usage: check-bench-json.py [ring|xlbench|xlscale] < report.json",
              file=sys.stderr)
        return 2
    try:
        doc = json.load(sys.stdin)
    except ValueError as e:
        print(f"bench json: not one JSON object: {e}", file=sys.stderr)
        return 1
    errors = []
    if isinstance(doc, dict):
        checks[kind](doc, errors)
    else:
        errors.append("not a JSON object")
    for e in errors:
        print(f"bench json ({kind}):", e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
