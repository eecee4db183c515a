#!/usr/bin/env bash
# Builds capdeck's packages into target/package/ (`make package` runs `all`):
#   windows -> capdeck.exe (x86_64-pc-windows-gnu, release, MinGW), the NSIS installer
#              capdeck-VERSION-setup.exe, the MSI capdeck-VERSION-x64.msi and a portable
#              capdeck-VERSION-windows-x86_64.zip
#   linux   -> capdeck_VERSION-1_amd64.deb (cargo-deb) and a portable
#              capdeck-VERSION-linux-x86_64.tar.xz
#   all     -> both
# macOS cannot be built here: packaging/macos/bundle.sh, run by .github/workflows/release.yml
# on a macOS runner, makes the .app and .dmg.
#
# Needs: packaging/linux/install-deps.sh build package windows (MinGW, makensis, wixl, zip
# via python) and, for linux, cargo-deb (installed here with `cargo install --locked` if
# missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CARGO=${CARGO:-cargo}
out="$root/target/package"
mkdir -p "$out"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
stage() { echo "package: $*"; }

windows() {
  local target=x86_64-pc-windows-gnu
  rustup target add "$target" >/dev/null 2>&1 || true
  stage "capdeck.exe ($target, release)"
  # Without line tables: the exe ships stripped of them (below), so they are not made (on 2
  # cores they cost the MinGW build minutes); a Linux build keeps them for the tests' backtraces.
  CARGO_PROFILE_RELEASE_DEBUG=false $CARGO build --release --locked --target "$target" --bin capdeck
  local exe="${CARGO_TARGET_DIR:-$root/target}/$target/release/capdeck.exe"
  # MinGW's runtime is linked statically (.cargo/config.toml): only system DLLs remain.
  # ktmw32 (the Kernel Transaction Manager, in Windows since Vista and in Wine): the
  # registry crate behind `capdeck autostart` (windows-registry, via auto-launch) links it.
  local foreign
  foreign=$(x86_64-w64-mingw32-objdump -p "$exe" | sed -n 's/^\s*DLL Name: //p' \
    | grep -viE '^(kernel32|user32|gdi32|advapi32|shell32|ole32|oleaut32|ws2_32|iphlpapi|ntdll|bcrypt|bcryptprimitives|userenv|dwmapi|uxtheme|imm32|comctl32|comdlg32|winmm|opengl32|d3d11|d3d12|dxgi|d3dcompiler_47|mfplat|mf|mfreadwrite|propsys|shlwapi|setupapi|hid|crypt32|secur32|ncrypt|dbghelp|version|api-ms-win-.*|msvcrt|ucrtbase|windowscodecs|d2d1|dwrite|uiautomationcore|combase|cfgmgr32|powrprof|winspool\.drv|mfuuid|ksuser|avrt|mmdevapi|dcomp|coremessaging|wevtapi|psapi|oleacc|rpcrt4|msimg32|synchronization|winhttp|netapi32|wtsapi32|normaliz|wininet|d3d9|dinput8|xinput1_4|credui|ktmw32)\.dll$' || true)
  if [ -n "$foreign" ]; then
    echo "package: capdeck.exe needs DLLs Windows does not have: $foreign" >&2
    exit 1
  fi
  # What ships is stripped of DWARF line tables (about 200 MB of the 200 MB exe; MinGW's
  # gdb would read them, Windows' tools do not); symbols stay for readable backtraces.
  local shipped="${CARGO_TARGET_DIR:-$root/target}/$target/release/capdeck-stripped.exe"
  x86_64-w64-mingw32-strip --strip-debug -o "$shipped" "$exe"
  exe=$shipped
  cp "$exe" "$out/capdeck.exe"

  stage "NSIS installer"
  makensis -V2 -DVERSION="$version" -DEXE="$exe" -DOUTFILE="$out/capdeck-$version-setup.exe" \
    packaging/windows/capdeck.nsi

  stage "MSI (wixl)"
  local msi_stage
  msi_stage=$(mktemp -d)
  cp "$exe" "$msi_stage/capdeck.exe"
  cp README.md assets/icon/capdeck.ico "$msi_stage/"
  (cd "$msi_stage" && wixl -a x64 -D Version="$version" -o "$out/capdeck-$version-x64.msi" \
    "$root/packaging/windows/capdeck.wxs" 2>&1 | grep -v "^$" || true)
  rm -rf "$msi_stage"
  [ -s "$out/capdeck-$version-x64.msi" ] || { echo "package: wixl made no MSI" >&2; exit 1; }

  stage "portable zip"
  python3 - "$out/capdeck-$version-windows-x86_64.zip" "$exe" README.md <<'PY'
import sys, zipfile, os
out, exe, readme = sys.argv[1:]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(exe, "capdeck/capdeck.exe")
    z.write(readme, "capdeck/README.md")
PY
}

linux() {
  stage "capdeck (release)"
  $CARGO build --release --locked --bin capdeck
  if ! $CARGO deb --version >/dev/null 2>&1; then
    stage "installing cargo-deb"
    $CARGO install --locked cargo-deb --version "^3"
  fi
  stage ".deb"
  # --strip: the line tables are 170 MB of the binary; what ships keeps only symbols.
  $CARGO deb --no-build --locked --strip --output "$out/"
  desktop-file-validate packaging/linux/capdeck.desktop

  stage "portable tarball"
  local name="capdeck-$version-linux-x86_64" tmp
  tmp=$(mktemp -d)
  mkdir -p "$tmp/$name/share/applications" "$tmp/$name/share/icons/hicolor"
  install -m755 target/release/capdeck "$tmp/$name/capdeck"
  strip --strip-debug "$tmp/$name/capdeck"   # as the .deb (cargo deb --strip)
  install -m644 README.md "$tmp/$name/README.md"
  install -m644 packaging/linux/capdeck.desktop "$tmp/$name/share/applications/"
  for s in 16 32 48 64 128 256 512; do
    install -Dm644 "assets/icon/capdeck-$s.png" "$tmp/$name/share/icons/hicolor/${s}x${s}/apps/capdeck.png"
  done
  tar -C "$tmp" -cJf "$out/$name.tar.xz" "$name"
  rm -rf "$tmp"
}

case "${1:-all}" in
  windows) windows ;;
  linux) linux ;;
  all) windows; linux ;;
  *) echo "usage: $0 windows|linux|all" >&2; exit 2 ;;
esac
ls -l "$out"
