#!/usr/bin/env bash
# Installs capdeck's NSIS installer silently in the Wine prefix, checks the Start-menu
# entry and the uninstall registration, runs the installed capdeck.exe (--version and a
# headless send to the pyzmq host), uninstalls silently and checks that nothing is left.
# Run inside tests/env/with-test-env.sh and tests/env/wine/with-wine.sh (see windows-wine.sh).
#   .ci/windows-install-check.sh path/to/capdeck-VERSION-setup.exe
set -euo pipefail
setup=$1
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
fail() { echo "install-check: $*" >&2; exit 1; }
progdir="$WINEPREFIX/drive_c/Program Files/capdeck"
key='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\capdeck'
menu="$WINEPREFIX/drive_c/ProgramData/Microsoft/Windows/Start Menu/Programs/capdeck.lnk"

rm -rf "$progdir"
wine "$setup" /S
wineserver --wait
[ -f "$progdir/capdeck.exe" ] || fail "no capdeck.exe in $progdir"
[ -f "$progdir/uninstall.exe" ] || fail "no uninstaller"
[ -f "$menu" ] || fail "no Start-menu entry at $menu"
wine reg query "$key" /v DisplayVersion | tr -d '\r' | grep -q "$version" \
  || fail "uninstall entry lacks DisplayVersion $version"

got=$(wine "C:\\Program Files\\capdeck\\capdeck.exe" --version | tr -d '\r')
[ "$got" = "capdeck $version" ] || fail "installed --version said '$got'"

# A headless send from the installed copy to the pyzmq host.
work=$(mktemp -d)
ports=$("$CAPDECK_PYTHON" -c 'import socket
s=[socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
read -r pa pv pc <<<"$ports"
"$CAPDECK_PYTHON" tests/peers/host.py --audio-port "$pa" --video-port "$pv" --control-port "$pc" \
  --framing framed --out "$work/host" --duration 30 &
host=$!
wine "C:\\Program Files\\capdeck\\capdeck.exe" send --host 127.0.0.1 --audio-port "$pa" \
  --video-port "$pv" --control-port "$pc" --framing framed --audio tone:440 --video pattern \
  --duration 4 --stats-json "$work/stats.json"
kill -TERM "$host"; wait "$host" || true
"$CAPDECK_PYTHON" - "$work/host/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a, v = s["audio"], s["video"]
assert not s["errors"], s["errors"]
assert 38 <= len(a) <= 41, f"{len(a)} audio chunks in 4 s"
assert all(m["len"] == 3200 for m in a)
assert [m["header"]["seq"] for m in a] == list(range(len(a))), "contiguous seq from 0"
assert 18 <= len(v) <= 22, f"{len(v)} video frames in 4 s"
print(f"install-check: installed capdeck.exe sent {len(a)} audio chunks and {len(v)} frames")
PY
rm -rf "$work"

wine "C:\\Program Files\\capdeck\\uninstall.exe" /S
wineserver --wait
[ ! -e "$progdir" ] || fail "uninstall left $(ls -A "$progdir")"
[ ! -e "$menu" ] || fail "uninstall left the Start-menu entry"
if wine reg query "$key" >/dev/null 2>&1; then fail "uninstall left $key"; fi
echo "install-check: installed, ran, uninstalled; nothing left"
