#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that bench/ring --json printed one object with the agreed keys.

It checks the shape, not the speed: performance is judged by reading the
benchmark, never by a timed test.
"""
import json
import sys

doc = json.load(sys.stdin)
errors = []
for key in ("pingpong_p50_ns", "pingpong_p99_ns", "stream_MBps"):
    obj = doc.get(key)
    if not isinstance(obj, dict):
        errors.append(f"{key}: missing or not an object")
        continue
    for member in ("ring", "tcp", "unix"):
        val = obj.get(member)
        if not isinstance(val, (int, float)) or val <= 0:
            errors.append(f"{key}.{member}: missing or not a positive number")
for e in errors:
    print("bench json:", e, file=sys.stderr)
sys.exit(1 if errors else 0)
