#!/bin/sh
# Type-checks capdeck for Windows from Linux: `cargo check --target x86_64-pc-windows-gnu`
# of the library and the binary, so the Windows-only code (the scap screen backend,
# nokhwa's Media Foundation camera, cfg(windows) paths) is compiled on every run.
# About 4 minutes from cold on 2 cores; under a minute when only capdeck changed.
#
# Needs: `rustup target add x86_64-pc-windows-gnu` (and gcc-mingw-w64-x86-64 for the
# few build scripts that compile C for the target).
#
# A quick check for development: CI builds, links and runs the real binary
# (.ci/windows-wine.sh). A check links nothing, so zmq-sys's build script (which compiles
# libzmq for MinGW, about a minute) is overridden here (`links = "zmq"`); zmq-sys's and
# zmq's Rust code are still type-checked.
#
# Usage: .ci/check-windows.sh [extra cargo args]   (CARGO defaults to cargo)
set -eu
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu
exec ${CARGO:-cargo} check --target "$target" --workspace --lib --bins \
  --config "target.$target.zmq.rustc-link-lib=[\"zmq\"]" "$@"
