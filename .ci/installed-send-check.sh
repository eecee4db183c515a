#!/usr/bin/env bash
# A headless send from an installed capdeck to the pyzmq host (tests/peers/host.py), with
# the same checks as the interop tests' first send: 4 s of a 440 Hz tone and the test
# pattern, framed (the default, no --framing flag), hello answered. Used by the install
# checks of every package (.ci/windows-install-check.sh, .ci/linux-package-check.sh).
# Needs CAPDECK_PYTHON (tests/env/with-test-env.sh sets it).
#   .ci/installed-send-check.sh LABEL CMD [ARGS...]   (CMD ARGS is how to run capdeck)
set -euo pipefail
label=$1; shift
: "${CAPDECK_PYTHON:?run inside tests/env/with-test-env.sh}"
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill "$host" 2>/dev/null || true; rm -rf "$work"' EXIT
ports=$("$CAPDECK_PYTHON" -c 'import socket
s=[socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
read -r pa pv pc <<<"$ports"
"$CAPDECK_PYTHON" "$root/tests/peers/host.py" --audio-port "$pa" --video-port "$pv" \
  --control-port "$pc" --framing framed --out "$work/host" --duration 60 >"$work/host.log" &
host=$!
for _ in $(seq 100); do grep -q '"ready"' "$work/host.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"ready"' "$work/host.log" || { echo "$label: the pyzmq host did not start" >&2; exit 1; }
"$@" send --host 127.0.0.1 --audio-port "$pa" --video-port "$pv" --control-port "$pc" \
  --audio tone:440 --video pattern --duration 4 --stats-json "$work/stats.json"
kill -TERM "$host"; wait "$host" || true
"$CAPDECK_PYTHON" - "$label" "$work/host/summary.json" "$work/stats.json" <<'PY'
import json, sys
label, summary, stats = sys.argv[1:]
s = json.load(open(summary))
st = json.load(open(stats))
a, v = s["audio"], s["video"]
assert not s["errors"], s["errors"]
assert 38 <= len(a) <= 41, f"{len(a)} audio chunks in 4 s"
assert all(m["len"] == 3200 for m in a), "every chunk 100 ms of 16 kHz int16 (3200 bytes)"
assert [m["header"]["seq"] for m in a] == list(range(len(a))), "contiguous seq from 0"
assert 18 <= len(v) <= 22, f"{len(v)} video frames in 4 s"
assert st["control"]["replies"] >= 1, f"hello never answered: {st['control']}"
print(f"{label}: sent {len(a)} audio chunks and {len(v)} frames to the pyzmq host, hello answered")
PY
