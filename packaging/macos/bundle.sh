#!/usr/bin/env bash
# Makes capdeck.app and capdeck-VERSION-macos-ARCH.dmg in target/package/ from a release
# build, on macOS (the release workflow's macOS job; it cannot run on Linux). Uses only the
# tools macOS ships: sips and iconutil (icon), codesign (ad-hoc signature, so the
# microphone/camera prompts attach to a stable identity), hdiutil (disk image).
#   packaging/macos/bundle.sh [TARGET]   (default: the host's, e.g. aarch64-apple-darwin)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${1:-}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
if [ -n "$target" ]; then
  cargo build --release --locked --target "$target" --bin capdeck
  bin="target/$target/release/capdeck"; arch=${target%%-*}
else
  cargo build --release --locked --bin capdeck
  bin="target/release/capdeck"; arch=$(uname -m)
fi
out="$root/target/package"; app="$out/capdeck.app"
rm -rf "$app"; mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
install -m755 "$bin" "$app/Contents/MacOS/capdeck"
sed "s/@VERSION@/$version/g" packaging/macos/Info.plist.in > "$app/Contents/Info.plist"
plutil -lint "$app/Contents/Info.plist"
iconset=$(mktemp -d)/capdeck.iconset; mkdir -p "$iconset"
for s in 16 32 128 256 512; do
  sips -z "$s" "$s" assets/icon/capdeck-512.png --out "$iconset/icon_${s}x${s}.png" >/dev/null
  d=$((s * 2)); sips -z "$d" "$d" assets/icon/capdeck-512.png --out "$iconset/icon_${s}x${s}@2x.png" >/dev/null
done
iconutil -c icns "$iconset" -o "$app/Contents/Resources/capdeck.icns"
codesign --force --deep --sign - "$app"
"$app/Contents/MacOS/capdeck" --version
dmg="$out/capdeck-$version-macos-$arch.dmg"; rm -f "$dmg"
hdiutil create -volname capdeck -srcfolder "$app" -ov -format UDZO "$dmg"
ls -l "$out"
