#!/usr/bin/env bash
# Installs capdeck's .deb for real (dpkg -i, then apt-get -f install for its dependencies),
# checks what it put on the system (binary, desktop entry that desktop-file-validate
# accepts, icons), runs the installed `capdeck --version` and a headless send to the pyzmq
# host, removes the package and checks nothing is left; then unpacks the portable tarball
# and runs it the same way. Run inside tests/env/with-test-env.sh after
# `packaging/package.sh linux` (.ci/run does both).
#   .ci/linux-package-check.sh target/package/capdeck_VERSION-1_amd64.deb target/package/capdeck-VERSION-linux-x86_64.tar.xz
set -euo pipefail
deb=$1 tarball=$2
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../Cargo.toml" | head -1)
fail() { echo "package-check: $*" >&2; exit 1; }
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo

[ "$(dpkg-deb -f "$deb" Package)" = capdeck ] || fail "$deb is not the capdeck package"
[ "$(dpkg-deb -f "$deb" Version)" = "$version-1" ] || fail "$deb has version $(dpkg-deb -f "$deb" Version)"
dpkg-deb -f "$deb" Depends | grep -q libasound2 || fail "Depends lacks the ALSA library: $(dpkg-deb -f "$deb" Depends)"

if dpkg-query -W capdeck >/dev/null 2>&1; then $sudo dpkg -r capdeck >/dev/null; fi
if ! $sudo dpkg -i "$deb"; then
  echo "package-check: dpkg -i wants dependencies; apt-get -f install"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -f install -y -qq >/dev/null
fi
dpkg-query -W -f='${Status}' capdeck | grep -q "install ok installed" || fail "capdeck is not installed"
[ -x /usr/bin/capdeck ] || fail "no /usr/bin/capdeck"
desktop-file-validate /usr/share/applications/capdeck.desktop || fail "the installed desktop entry is invalid"
for s in 16 32 48 64 128 256 512; do
  [ -s "/usr/share/icons/hicolor/${s}x${s}/apps/capdeck.png" ] || fail "no ${s}x${s} icon"
done
got=$(/usr/bin/capdeck --version)
[ "$got" = "capdeck $version" ] || fail "installed --version said '$got'"
# The installed binary resolves every library it links (ldd names none missing).
if ldd /usr/bin/capdeck | grep -q "not found"; then fail "$(ldd /usr/bin/capdeck | grep 'not found')"; fi
"$here/installed-send-check.sh" "package-check (.deb)" /usr/bin/capdeck

$sudo dpkg -r capdeck >/dev/null
[ ! -e /usr/bin/capdeck ] || fail "dpkg -r left /usr/bin/capdeck"
[ ! -e /usr/share/applications/capdeck.desktop ] || fail "dpkg -r left the desktop entry"
left=$(dpkg -L capdeck 2>/dev/null | grep -v '^/usr/share/doc' | while read -r f; do [ -f "$f" ] && echo "$f"; done || true)
[ -z "$left" ] || fail "dpkg -r left: $left"
echo "package-check: .deb installed, ran, removed; nothing left"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xJf "$tarball"
portable="$work/capdeck-$version-linux-x86_64/capdeck"
[ "$("$portable" --version)" = "capdeck $version" ] || fail "portable --version"
"$here/installed-send-check.sh" "package-check (tarball)" "$portable"
echo "package-check: portable tarball ran"
