#!/usr/bin/env bash
# CI's Windows stages: build capdeck.exe and its installers for x86_64-pc-windows-gnu with
# Debian's MinGW, run the binary under Wine against the Linux peers, then install it with
# its NSIS installer, run the installed copy, uninstall and check nothing is left.
# Prints the time of each stage. Installs what it needs (packaging/linux/install-deps.sh).
#   .ci/windows-wine.sh [build|check]   build: the exe and installers only; check: the rest
#                                       (on a build made before); neither: both
# The Windows build has a target directory of its own (target/windows, one per target triple):
# .ci/run builds it in the background while the Linux stages run, and cargo's lock on a
# shared directory would make them take turns.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
CARGO=${CARGO:-cargo}
stage_start=0
stage() { stage_start=$(date +%s); echo "== windows: $*"; }
stage_end() { echo "== windows: $1 took $(( $(date +%s) - stage_start )) s"; }

what=${1:-all}
export CARGO_TARGET_DIR=${CAPDECK_WINDOWS_TARGET_DIR:-$root/target/windows}
packaging/linux/install-deps.sh build test windows
rustup target add x86_64-pc-windows-gnu

if [ "$what" != check ]; then
  stage "build capdeck.exe, NSIS installer, MSI, zip"
  CARGO=$CARGO packaging/package.sh windows
  stage_end build
fi
[ "$what" = build ] && exit 0
# the Linux test binaries that drive the exe are the release ones `make test` built
unset CARGO_TARGET_DIR
# The exe that ships (stripped), the one the installers carry.
exe="$root/target/package/capdeck.exe"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

stage "capdeck.exe under Wine: interop tests, audio, window, screen"
mkdir -p target/wine
tests/env/with-test-env.sh tests/env/wine/with-wine.sh \
  env CAPDECK_TEST_EXE="$exe" CAPDECK_TEST_RUNNER=wine \
  CAPDECK_TEST_SCREENSHOT="$root/target/wine/capdeck-under-wine.png" \
  $CARGO test --release --locked -p capdeck -p capdeck-wine-tests --test windows_exe --test wire_interop -- --test-threads 1 \
  --include-ignored --skip default_input_through_wasapi_arrives_as_440_hz
# (--include-ignored: the interop tests need the test environment and are ignored without
# it; the WASAPI test stays ignored for the reason in tests/wine/tests/windows_exe.rs.)
stage_end "wine tests"

stage "install silently under Wine, run, uninstall"
tests/env/with-test-env.sh tests/env/wine/with-wine.sh \
  .ci/windows-install-check.sh "target/package/capdeck-$version-setup.exe"
stage_end "installer"
