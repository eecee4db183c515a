#!/usr/bin/env bash
# Runs a command with a Wine prefix ready for capdeck.exe (Debian 12's wine64 8.0):
#  - WINEPREFIX: a 64-bit prefix under target/wine (made on first use, about 30 s; delete
#    the folder to start over; nothing in it is needed to build);
#  - the test-only bcryptprimitives.dll shim (processprng.c) in its system32, because every
#    program built by Rust 1.78+ imports ProcessPrng, which Wine has only from 8.13. It is
#    never shipped: on Windows that DLL is the system's;
#  - the test-only coremessaging.dll shim (coremessaging.c): Wine 8.0 lacks the DLL that
#    Windows Graphics Capture's dispatcher queue comes from, and capdeck.exe imports it;
#  - no Mono/Gecko install prompts, Wine's own debug output off (WINEDEBUG=-all), and
#    `wine` resolved for the caller (CAPDECK_WINE).
# Audio: Wine's WASAPI goes to PulseAudio (winepulse), so run this inside
# tests/env/with-test-env.sh to give it the sine source; the window needs its Xvfb too.
#
# Usage: tests/env/wine/with-wine.sh CMD ARGS...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
command -v wine >/dev/null || { echo "with-wine: wine is missing (packaging/linux/install-deps.sh windows)" >&2; exit 1; }
command -v x86_64-w64-mingw32-gcc >/dev/null || { echo "with-wine: x86_64-w64-mingw32-gcc is missing" >&2; exit 1; }

export WINEPREFIX="${WINEPREFIX:-$root/target/wine/prefix}"
export WINEARCH=win64
export WINEDEBUG="${WINEDEBUG:--all}"
# mscoree/mshtml disabled: no Mono or Gecko download prompt. The shim is native-first.
export WINEDLLOVERRIDES="mscoree=;mshtml=;bcryptprimitives=n,b;coremessaging=n,b"
export CAPDECK_WINE="$(command -v wine)"

shim_src="$here/processprng.c"
sys32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -f "$WINEPREFIX/.capdeck-ready" ]; then
  echo "with-wine: making the Wine prefix $WINEPREFIX"
  mkdir -p "$WINEPREFIX"
  start=$(date +%s)
  wineboot --init >/dev/null 2>&1 || { echo "with-wine: wineboot failed" >&2; exit 1; }
  wineserver --wait
  echo "with-wine: prefix ready in $(( $(date +%s) - start )) s"
  touch "$WINEPREFIX/.capdeck-ready"
fi
if [ ! -f "$sys32/bcryptprimitives.dll" ] || [ "$shim_src" -nt "$WINEPREFIX/.capdeck-shim" ]; then
  x86_64-w64-mingw32-gcc -O2 -shared -o "$sys32/bcryptprimitives.dll" \
    "$shim_src" "$here/processprng.def" -ladvapi32
  touch "$WINEPREFIX/.capdeck-shim"
fi

for shim in coremessaging; do
  if [ ! -f "$sys32/$shim.dll" ] || [ "$here/$shim.c" -nt "$sys32/$shim.dll" ]; then
    x86_64-w64-mingw32-gcc -O2 -shared -o "$sys32/$shim.dll" "$here/$shim.c" "$here/$shim.def"
  fi
done

status=0
"$@" || status=$?
# Leave no wineserver behind (it would keep the prefix busy for the next run).
wineserver --kill >/dev/null 2>&1 || true
exit "$status"
