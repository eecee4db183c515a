#!/usr/bin/env bash
# Writes the deterministic speech test set into OUTDIR (see tests/voice/README.md):
#   op.wav              the operator (espeak-ng en-us) reading operator.txt, mono 48 kHz
#   game.wav            the game's dialogue (espeak-ng en-gb) from game.txt, stereo 48 kHz:
#                       the echo reference, what the desktop plays
#   mic_clean.wav       the microphone with the operator alone, mono 48 kHz
#   mic_bleed.wav       the operator + the game through a simple room, mono 48 kHz
#   mic_game_only.wav   only the game through that room (operator silent), mono 48 kHz
#   mic_headphones.wav  the operator alone (the reference plays, but into headphones)
# All files are 16-bit PCM, the same length, and start at the same instant: the echo in the
# mic is game.wav mixed to mono, low-passed at 4 kHz, reverberated, delayed by 80 ms and set
# 6 dB (RMS) under the voice. Needs espeak-ng and sox (install-deps.sh test).
#
#   tests/voice/make_testset.sh OUTDIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
out=$1
mkdir -p "$out"
for t in espeak-ng sox; do
  command -v "$t" >/dev/null || { echo "make_testset: $t missing (packaging/linux/install-deps.sh test)" >&2; exit 1; }
done

rate=48000
delay=0.08       # seconds between the speakers and the microphone
under_db=${UNDER_DB:-6}   # echo level under the voice, dB (RMS over the whole file)
tail_s=1         # silence after the longer passage, room for the reverb tail
lead_s=${LEAD_S:-10}  # the game plays alone this long before the operator speaks

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# -R: repeatable (fixed seeds); -D: no dither, so identical inputs give identical bytes.
sx() { sox -R -D -V1 "$@"; }
rms() { sox -R "$1" -n stat 2>&1 | awk '/^RMS +amplitude/ {print $3}'; }
samples() { soxi -s "$1"; }

# 1. Voices (espeak-ng writes 22050 Hz mono), resampled to 48 kHz with peaks at -3 dBFS.
espeak-ng -v en-us -s 150 -w "$tmp/op22.wav" -f "$here/operator.txt"
espeak-ng -v en-gb -p 35 -s 165 -w "$tmp/game22.wav" -f "$here/game.txt"
sx "$tmp/op22.wav" "$tmp/op_voice.wav" channels 1 rate -v $rate gain -n -3
sx "$tmp/game22.wav" "$tmp/game_once.wav" channels 1 rate -v $rate gain -n -3
# A game is running before anyone speaks: its dialogue plays alone for lead_s, and is
# repeated so that it goes on under the whole of the operator's passage (double talk).
sx "$tmp/op_voice.wav" "$tmp/op_raw.wav" pad "$lead_s"
sx "$tmp/game_once.wav" "$tmp/game_raw.wav" repeat 1

# 2. One length for everything: the longer passage + the delay + the reverb tail.
len=$(( $(samples "$tmp/op_raw.wav") > $(samples "$tmp/game_raw.wav") ? \
        $(samples "$tmp/op_raw.wav") : $(samples "$tmp/game_raw.wav") ))
len=$(( len + (rate * 8 / 100) + rate * tail_s ))
fit() { sx "$1" "$2" pad 0 "$((len))s" trim 0 "${len}s"; }   # pad, then cut to len samples

fit "$tmp/op_raw.wav" "$out/op.wav"
fit "$tmp/game_raw.wav" "$tmp/game_mono.wav"
sx "$tmp/game_mono.wav" "$out/game.wav" channels 2

# 3. The room: the two speakers summed, low-passed, reverberated, delayed; then levelled so
#    its RMS is under_db below the voice's.
sx "$out/game.wav" "$tmp/room.wav" remix 1,2 lowpass 4000 reverb 50 50 100 pad $delay \
   trim 0 "${len}s"
op_rms=$(rms "$tmp/op_voice.wav")   # the voice while it speaks, not the lead-in's silence
room_rms=$(rms "$tmp/room.wav")
gain_db=$(awk -v a="$op_rms" -v b="$room_rms" -v u="$under_db" \
  'BEGIN { printf "%.2f", 20 * log(a / b) / log(10) - u }')
sx "$tmp/room.wav" "$out/mic_game_only.wav" gain "$gain_db"

# 4. The microphones. -v 1 on each input: sox -m would otherwise halve both.
cp "$out/op.wav" "$out/mic_clean.wav"
cp "$out/op.wav" "$out/mic_headphones.wav"
sox -R -D -m -v 1 "$out/op.wav" -v 1 "$out/mic_game_only.wav" "$out/mic_bleed.wav"

# 5. Levels.
echo "make_testset: $out, $len samples per file ($(soxi -D "$out/op.wav") s at $rate Hz)," \
     "room gain $gain_db dB"
printf '%-20s %3s %10s %10s %10s\n' file ch "RMS" "RMS dBFS" "peak"
for f in op game mic_clean mic_bleed mic_game_only mic_headphones; do
  st=$(sox -R "$out/$f.wav" -n stat 2>&1)
  r=$(awk '/^RMS +amplitude/ {print $3}' <<<"$st")
  p=$(awk '/^Maximum amplitude/ {print $3}' <<<"$st")
  printf '%-20s %3s %10s %10.1f %10s\n' "$f.wav" "$(soxi -c "$out/$f.wav")" "$r" \
    "$(awk -v r="$r" 'BEGIN { print 20 * log(r) / log(10) }')" "$p"
done
echo "echo under voice: $(awk -v a="$(rms "$tmp/op_voice.wav")" -v b="$(rms "$out/mic_game_only.wav")" \
  'BEGIN { printf "%.2f", 20 * log(a / b) / log(10) }') dB"
