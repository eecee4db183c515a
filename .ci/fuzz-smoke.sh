#!/usr/bin/env bash
# CI's fuzz stage: builds every cargo-fuzz target in fuzz/ (libFuzzer with AddressSanitizer,
# on stable through RUSTC_BOOTSTRAP=1, as fuzz/README.md says) and runs each for a short fixed
# time from its seeds, so a refactor that breaks a target, or a crash a few seconds of
# fuzzing finds, fails CI. Longer runs are for sessions (fuzz/README.md has the figures).
#   .ci/fuzz-smoke.sh [SECONDS per target, default 30]   build, then run
#   .ci/fuzz-smoke.sh build                               the build only
#   .ci/fuzz-smoke.sh run [SECONDS]                       the run only (on a build made before)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
what=all
case "${1:-}" in build|run) what=$1; shift ;; esac
secs=${1:-30}
triple=x86_64-unknown-linux-gnu
export RUSTC_BOOTSTRAP=1
# rustc, not the clippy-driver .ci/run lints the workspace with (this is a workspace of its own)
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
# opt-level 1: a smoke run of seconds finds what it finds as well, and the instrumented build
# of every dependency costs half the CPU of opt-level 3 (long runs: fuzz/README.md, `cargo fuzz`)
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${CARGO_PROFILE_RELEASE_OPT_LEVEL:-1}
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Zsanitizer=address"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^capdeck-fuzz$')
if [ "$what" != run ]; then
  ${CARGO:-cargo} build --locked --release --target "$triple" --target-dir ../target/fuzz $(printf -- '--bin %s ' $targets)
fi
[ "$what" = build ] && exit 0
mkdir -p ../target/fuzz/artifacts
for t in $targets; do
  corpus=$(mktemp -d)
  log=$(mktemp)
  echo "fuzz: $t for $secs s"
  status=0
  ../target/fuzz/$triple/release/$t "$corpus" "seeds/$t" -max_total_time="$secs" \
    -print_final_stats=1 -artifact_prefix="../target/fuzz/artifacts/$t-" >"$log" 2>&1 || status=$?
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log" || true
  if [ "$status" -ne 0 ]; then
    grep -E -A30 "ERROR|panicked" "$log" | head -60 >&2 || tail -40 "$log" >&2
    echo "fuzz: $t failed (exit $status); the input is in target/fuzz/artifacts/" >&2
    exit 1
  fi
  rm -rf "$corpus" "$log"
done
