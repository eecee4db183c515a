# capdeck: the two quick-start commands are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test test-build deps-run deps-test build release bench bench-check fmt clippy check-windows package

## Set up (Debian packages) and open the desktop app with its embedded demo.
run: deps-run
	$(CARGO) run --release --locked

## Set up (Debian packages, pyzmq in .venv, PulseAudio + Xvfb) and run every test: the
## tests that need that environment are #[ignore]d for a plain `cargo test` and run here
## (--include-ignored), where a missing piece fails them; then the doctests.
## Release profile: the tests drive the binary the packages ship, and CI builds it once
## (`cargo test` alone, the dev profile, is the quick loop while editing). capdeck.exe's
## checks under Wine (tests/wine) run in CI's Windows stage, not here.
TEST_SET := --release --locked --workspace --exclude capdeck-wine-tests
test: deps-test
	tests/env/with-test-env.sh $(CARGO) test $(TEST_SET) --all-targets --no-fail-fast -- --include-ignored
	$(CARGO) test $(TEST_SET) --doc

## What `make test` builds, without running it (CI builds first, then runs).
test-build: deps-test
	$(CARGO) test $(TEST_SET) --all-targets --no-run

deps-run:
	packaging/linux/install-deps.sh run

deps-test:
	packaging/linux/install-deps.sh test

build: deps-run
	$(CARGO) build --locked

release: deps-run
	$(CARGO) build --release --locked

## Benchmarks with the reference implementations (libsoxr, libjpeg-turbo).
bench:
	packaging/linux/install-deps.sh run bench
	$(CARGO) bench --features bench-ref

## The README's benchmark figures as quotients over references timed in the same run
## (benches/check.py): fails when one is more than 1.5x worse than the README's.
bench-check:
	packaging/linux/install-deps.sh run bench
	CARGO=$(CARGO) benches/check.py

## Type-check the Windows build from Linux (scap backend, cfg(windows) code).
check-windows:
	rustup target add x86_64-pc-windows-gnu
	CARGO=$(CARGO) .ci/check-windows.sh --locked

fmt:
	$(CARGO) fmt --all

## Lints as CI runs them: no warnings (unwrap/expect/panic outside tests, missing docs).
## --release: the build scripts and proc macros are the ones `make test` built.
clippy:
	rustup component add clippy
	$(CARGO) clippy --release --locked --workspace --all-targets -- -D warnings

## Every package that builds on Linux, into target/package/ (packaging/package.sh).
package:
	packaging/linux/install-deps.sh build package windows
	CARGO=$(CARGO) packaging/package.sh all
