#!/usr/bin/env bash
# Runs every test of drainguard: formatting, lints, unit + integration tests (incl. the real
# rsyslog tests), and the end-to-end VM boots. Needs the tools .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo fmt --check"; cargo fmt --all -- --check
echo "== cargo clippy"; cargo clippy --all-targets -- -D warnings
echo "== cargo test"; cargo test --all-targets
