#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The man pages render without a warning, and say what the programs do:
# every option the binaries' usage prints is an entry under OPTIONS (or
# COMMANDS), every configuration key the daemon accepts is an entry under
# KEYS with its real range and default, every call the library exports is
# listed, every XENLOOP_* variable (common/xl_env.h, the wrapper) is an
# entry under ENVIRONMENT, and every key of the daemon's status document
# is described in xenloopctl(8). The facts come from the built programs (a
# private xenloopd in a temporary directory answers the questions) and
# the sources, not from a list kept here. Needs no root; a few seconds.
set -euo pipefail

top=${XL_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${abs_top_builddir:-$top/build/default}
man_dir=$top/man
daemon=$build/daemon/xenloopd
ctl=$build/daemon/xenloopctl
wrapper=$build/preload/xenloop
pages="xenloop.1 xenloop.4 xenloop.7 xenloopd.8 xenloopctl.8 xenloop.conf.5"

fail() { printf 'manpages: FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf 'manpages: SKIP: %s\n' "$*" >&2; exit 77; }
ok() { printf 'manpages: ok: %s\n' "$*"; }

for p in "$daemon" "$ctl" "$wrapper"; do
	[ -x "$p" ] || skip "$p is not built"
done
command -v python3 >/dev/null || skip "needs python3"
if command -v man >/dev/null; then
	render() {
		LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
			man --warnings -E UTF-8 -l "$1"
	}
elif command -v groff >/dev/null; then
	# the same formatter and warnings, without man-db
	render() { LC_ALL=C.UTF-8 groff -ww -b -man -Tutf8 -rLL=80n "$1"; }
else
	skip "needs man (man-db) or groff"
fi

tmp=$(mktemp -d /tmp/xl-man.XXXXXX)
dpid=
cleanup() {
	if [ -n "$dpid" ]; then
		kill "$dpid" 2>/dev/null || true
		timeout 3 tail --pid="$dpid" -f /dev/null 2>/dev/null ||
			kill -KILL "$dpid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- every page renders, and not a single warning ----
version=$("$daemon" --version | sed 's/^xenloopd //')
for p in $pages; do
	[ -f "$man_dir/$p" ] || fail "$p is missing"
	if ! render "$man_dir/$p" >"$tmp/$p.txt" 2>"$tmp/$p.err"; then
		fail "$p does not render: $(cat "$tmp/$p.err")"
	fi
	[ ! -s "$tmp/$p.err" ] ||
		fail "$p renders with warnings: $(cat "$tmp/$p.err")"
	[ "$(wc -l <"$tmp/$p.txt")" -gt 20 ] || fail "$p is (nearly) empty"
	grep -q "^\.TH .*\"xenloop $version\"" "$man_dir/$p" ||
		fail "$p: .TH does not name xenloop $version"
done
ok "$pages render without warnings"

# ---- the facts, from the built programs ----
"$daemon" --help >"$tmp/xenloopd.help"
"$ctl" --help >"$tmp/xenloopctl.help"
"$wrapper" --help >"$tmp/xenloop.help"

# A private daemon for the real defaults and status document.
: >"$tmp/empty.conf"
"$daemon" -d -f "$tmp/empty.conf" -r "$tmp" 2>"$tmp/daemon.log" &
dpid=$!
ino=$(stat -L -c %i /proc/self/ns/net)
for _ in $(seq 50); do
	[ -S "$tmp/ns/$ino.sock" ] && break
	kill -0 "$dpid" 2>/dev/null ||
		fail "xenloopd did not start: $(cat "$tmp/daemon.log")"
	sleep 0.1
done
timeout 10 "$ctl" -r "$tmp" status --json >"$tmp/status.json" ||
	fail "no status from the private xenloopd"

# The daemon's message for a bad configuration line (it stops before it
# touches anything): the list of keys, then each key's range.
conf_says() {	# LINE
	printf '%s\n' "$1" >"$tmp/bad.conf"
	if "$daemon" -d -f "$tmp/bad.conf" -r /nonexistent 2>&1; then
		fail "xenloopd accepted \"$1\""
	fi
}
keys=$(conf_says "no_such_key = 1" |
	sed -n 's/.*unknown key (\(.*\)).*/\1/p' | tr -d ' ' | tr ',' ' ')
[ -n "$keys" ] || fail "xenloopd does not list its configuration keys"
for k in $keys; do
	conf_says "$k = @" >"$tmp/key.$k"
done

# ---- the pages against the facts ----
# shellcheck disable=SC2086 # one argument per key
python3 - "$tmp" "$top" $keys <<'EOF'
import json, re, sys

tmp, top, keys = sys.argv[1], sys.argv[2], sys.argv[3:]


def fail(msg):
    print("manpages: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("manpages: ok: " + msg)


def read(path):
    with open(path) as f:
        return f.read()


def section(page, name):
    """The rendered lines of a section, up to the next heading."""
    out, on = [], False
    for line in read(f"{tmp}/{page}.txt").splitlines():
        if on and re.match(r"[A-Z]", line):
            break
        if on:
            out.append(line)
        on = on or line == name
    if not on:
        fail(f"{page}: no section {name}")
    return out


def entries(page, name):
    """Tagged entries (.TP) of a section: {first word of a tag: text}.
    A tag starts at column 7; "a, b" tags name several things."""
    found, cur = {}, []
    for line in section(page, name):
        if re.match(r" {7}\S", line):
            cur = []
            for part in re.split(r",\s+", re.split(r"\s\s", line[7:])[0]):
                word = re.split(r"[ =]", part.strip())[0]
                found[word] = cur
        cur.append(line)
    return {k: " ".join(" ".join(v).split()) for k, v in found.items()}


def usage_options(text):
    return sorted(set(re.findall(r"(?:^|[][ |,])(--?[A-Za-z][-A-Za-z]*)",
                                 text, re.M)))


# options: what each program's usage prints has an entry under OPTIONS
for page, helpfile in (("xenloopd.8", "xenloopd.help"),
                       ("xenloopctl.8", "xenloopctl.help"),
                       ("xenloop.1", "xenloop.help")):
    opts = usage_options(read(f"{tmp}/{helpfile}"))
    if len(opts) < 3:
        fail(f"{page}: only {opts} found in the usage")
    have = entries(page, "OPTIONS")
    for o in opts:
        if o not in have:
            fail(f"{page}: option {o} (from the usage) has no entry "
                 "under OPTIONS")
    ok(f"{page}: the options of the usage: {' '.join(opts)}")
if "status" not in entries("xenloopctl.8", "COMMANDS"):
    fail("xenloopctl.8: no entry for status under COMMANDS")

# configuration keys: each an entry under KEYS, with the real default
# and the range the daemon states for a bad value
status = json.loads(read(f"{tmp}/status.json"))
d = status["daemon"]
if not d["name"].startswith("ns-"):
    fail(f"the default name is {d['name']}, not ns-<inode>")
m = re.search(r"-r RUNDIR.*\(default (\S+)\)", read(f"{tmp}/xenloopd.help"))
if not m:
    fail("xenloopd --help does not state the default RUNDIR")
default = {"rundir": m.group(1), "name": "ns-",
           "ring_order": str(d["ring_order"]),
           "match_timeout_ms": str(d["match_timeout_ms"]),
           "enable": "yes" if d["enabled"] else "no",
           # dom0's key: a local daemon's status cannot show it, and
           # --discovery needs a Xen build and a xenstore to say it
           "routed": "no",
           # a Xen guest's key (xenloopd --xen), likewise
           "xen_kmod": "yes"}
example = read(f"{top}/daemon/xenloop.conf")
have = entries("xenloop.conf.5", "KEYS")
for k in keys:
    if k not in have:
        fail(f"xenloop.conf.5: key {k} has no entry under KEYS")
    text = have[k]
    if k not in default:
        fail(f"no default known for key {k}: a new key? (add it here)")
    if f"Default: {default[k]}" not in text:
        fail(f"xenloop.conf.5: {k}: the default is {default[k]}: {text}")
    msg = read(f"{tmp}/key.{k}")
    m = re.search(rf": {k}: (.*)", msg)
    if not m:
        fail(f"xenloopd's message for a bad {k} is {msg!r}")
    for n in re.findall(r"\d+", m.group(1)):
        if not re.search(rf"(?<!\d){n}(?!\d)", text):
            fail(f"xenloop.conf.5: {k}: xenloopd says \"{m.group(1)}\" "
                 f"but the page lacks {n}: {text}")
    line = rf"^#?{k} = " + ("" if k == "name" else re.escape(default[k]) + "$")
    if not re.search(line, example, re.M):
        fail(f"daemon/xenloop.conf: {k}, default {default[k]}, is not shown")
ok(f"xenloop.conf.5: keys, defaults and ranges: {' '.join(keys)}")

# every call the library exports is listed as interposed
mapfile = read(f"{top}/preload/libxenloop.map")
exported = re.findall(r"(\w+);",
                      mapfile.split("global:")[1].split("local:")[0])
listed = " ".join(section("xenloop.7", "WHAT IS INTERPOSED"))
if len(exported) < 30:
    fail(f"too few exported calls in preload/libxenloop.map: {exported}")
for name in exported:
    if not re.search(rf"(?<!\w){name}(?!\w)", listed):
        fail(f"xenloop.7: {name} is interposed but not listed")
ok(f"xenloop.7: the {len(exported)} interposed calls")

# environment: every XENLOOP_* of the library and of the wrapper
names = re.findall(r'^#define XENLOOP_\w+\s+"(XENLOOP_\w+)"',
                   read(f"{top}/common/xl_env.h"), re.M)
if len(names) < 5:
    fail("too few XENLOOP_* found in common/xl_env.h")
names += re.findall(r"XENLOOP_[A-Z_]+", read(f"{top}/preload/xenloop.in"))
have = entries("xenloop.7", "ENVIRONMENT")
for v in sorted(set(names)):
    if v not in have:
        fail(f"xenloop.7: {v} has no entry under ENVIRONMENT")
chan = read(f"{top}/driver/xl_chan.h")
for what in ("DEFAULT", "MAX"):
    n = re.search(rf"XL_CHAN_SPIN_NS_{what}\s+(\d+)u", chan).group(1)
    if not re.search(rf"\b{n}\b", have["XENLOOP_SPIN_NS"]):
        fail(f"xenloop.7: XENLOOP_SPIN_NS lacks its {what.lower()}, {n}")
ok(f"xenloop.7: {' '.join(sorted(set(names)))}")

# the status document: every key the daemon writes (those of parts that
# are empty here, a connection's, from the source), in xenloopctl.8
jkeys = set()


def walk(v):
    if isinstance(v, dict):
        jkeys.update(v)
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)


walk(status)
jkeys.update(re.findall(r'\\"([a-z_]+)\\": ',
                        read(f"{top}/daemon/xl_status.c")))
if len(jkeys) < 20:
    fail(f"too few status keys: {sorted(jkeys)}")
doc = " ".join(" ".join(section("xenloopctl.8", "JSON DOCUMENT")).split())
doc = doc.split("For example")[0]  # described, not merely shown
for k in sorted(jkeys):
    if not re.search(rf"(?<![\w-]){k}(?![\w-])", doc):
        fail(f"xenloopctl.8: the status key {k} is not described")
reasons = entries("xenloop.7", "DESCRIPTION")
for k in status["fallbacks"]:
    if k not in reasons:
        fail(f"xenloop.7: the fallback reason {k} is not explained")
ok(f"xenloopctl.8: {len(jkeys)} keys of the status document")
EOF
