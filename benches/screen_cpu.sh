#!/usr/bin/env bash
# CPU use of `capdeck send --video screen` (5 fps, 640x480, quality 70 by default)
# pushing to a local `capdeck receive`, read from utime+stime in /proc/PID/stat over a
# steady window (start-up excluded). Prints percent of one core and the frames sent.
#
# Needs an X display: run it inside the test environment, e.g.
#   tests/env/with-test-env.sh benches/screen_cpu.sh            # screen only, 30 s
#   tests/env/with-test-env.sh benches/screen_cpu.sh 30 --audio tone:440
# A window with a photo-like picture covers the screen first (imagemagick; SCREEN_CPU_BACKGROUND=0
# leaves the desktop as it is). Extra arguments go to `capdeck send` (later ones win: --fps 10, --video window:Foo).
# The binary is $CAPDECK_BIN, default the release build
# (`/work/cargo-locked build --release --bin capdeck`).
set -euo pipefail
secs=${1:-30}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CAPDECK_BIN:-${CARGO_TARGET_DIR:-/work/target}/release/capdeck}
[ -x "$bin" ] || { echo "screen_cpu: no binary at $bin (set CAPDECK_BIN)" >&2; exit 1; }
[ -n "${DISPLAY:-}" ] || { echo "screen_cpu: DISPLAY is not set (run inside tests/env/with-test-env.sh)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Photo-like content on the screen (a black desktop would flatter the encoder).
if [ "${SCREEN_CPU_BACKGROUND:-1}" = 1 ] && command -v convert >/dev/null && command -v display >/dev/null; then
  size=$(xdpyinfo 2>/dev/null | awk '/dimensions:/ { print $2 }' || true)
  convert -seed 7 -size "${size:-1280x800}" plasma:fractal "$tmp/bg.png"
  display -geometry +0+0 "$tmp/bg.png" & # a window covering the screen
  pids+=($!)
  sleep 1
fi

port=$((20000 + RANDOM % 20000))
aport=$port vport=$((port + 1))
"$bin" receive --bind 127.0.0.1 --audio-port "$aport" --video-port "$vport" --control-port 0 \
  --duration $((secs + 20)) >"$tmp/recv.log" 2>&1 &
pids+=($!)
audio=(--audio none)
for a in "$@"; do case "$a" in --audio | --audio=*) audio=() ;; esac; done
"$bin" send --host 127.0.0.1 --audio-port "$aport" --video-port "$vport" --control-port 0 \
  --video screen "${audio[@]}" "$@" --duration $((secs + 6)) --stats-json "$tmp/send.json" \
  >"$tmp/send.log" 2>&1 &
spid=$!
pids+=($spid)

ticks() { # utime + stime of a process, in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
hz=$(getconf CLK_TCK)
sleep 3 # start-up (connect, open the source, first frames) is not counted
t0=$(ticks "$spid") s0=$(date +%s.%N)
sleep "$secs"
t1=$(ticks "$spid") s1=$(date +%s.%N)
wait "$spid" || { echo "screen_cpu: capdeck send failed:" >&2; cat "$tmp/send.log" >&2; exit 1; }

awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v args="${audio[*]} $*" 'BEGIN {
  wall = s1 - s0; cpu = (t1 - t0) / hz
  printf "capdeck send --video screen %s: %.2f%% of one core (%.2f s CPU in %.1f s)\n",
    args, 100 * cpu / wall, cpu, wall }'
python3 - "$tmp/send.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
v = (s.get("video") or {}).get("pipeline") or {}
print("video:", {k: v.get(k) for k in ("frames", "dropped_stale", "errors", "source", "last_size", "last_bytes", "last_timing")})
print("sent over the link:", ((s.get("video") or {}).get("link") or {}).get("sent"))
PY
