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
"$(dirname "$0")/installed-send-check.sh" "install-check (NSIS, Wine)" \
  wine "C:\\Program Files\\capdeck\\capdeck.exe"

wine "C:\\Program Files\\capdeck\\uninstall.exe" /S
wineserver --wait
[ ! -e "$progdir" ] || fail "uninstall left $(ls -A "$progdir")"
[ ! -e "$menu" ] || fail "uninstall left the Start-menu entry"
if wine reg query "$key" >/dev/null 2>&1; then fail "uninstall left $key"; fi
echo "install-check: installed, ran, uninstalled; nothing left"
