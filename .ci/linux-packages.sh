#!/usr/bin/env bash
# CI's Linux package stage: builds the .deb and the portable tarball (packaging/package.sh
# linux), then installs and runs them for real (.ci/linux-package-check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/linux/install-deps.sh build test package
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
packaging/package.sh linux
tests/env/with-test-env.sh .ci/linux-package-check.sh \
  "target/package/capdeck_${version}-1_amd64.deb" "target/package/capdeck-${version}-linux-x86_64.tar.xz"
