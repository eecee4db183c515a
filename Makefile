# capdeck: the two quick-start commands are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test deps-run deps-test build release bench bench-check fmt clippy check-windows package

## Set up (Debian packages) and open the desktop app with its embedded demo.
run: deps-run
	$(CARGO) run --release --locked

## Set up (Debian packages, pyzmq in .venv, PulseAudio + Xvfb) and run every test: the
## tests that need that environment are #[ignore]d for a plain `cargo test` and run here
## (--include-ignored), where a missing piece fails them; then the doctests.
test: deps-test
	tests/env/with-test-env.sh $(CARGO) test --locked --workspace --all-targets --no-fail-fast -- --include-ignored
	$(CARGO) test --locked --workspace --doc

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
clippy:
	rustup component add clippy
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

## Every package that builds on Linux, into target/package/ (packaging/package.sh).
package:
	packaging/linux/install-deps.sh build package windows
	CARGO=$(CARGO) packaging/package.sh all
