#!/usr/bin/env bash
# Runs every test of drainguard: formatting, lints, unit + integration tests (real files,
# real processes, systemd-analyze) and the end-to-end VM boots. .ci/run installs what these need on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
echo "== cargo fmt --check"; cargo fmt --all -- --check
echo "== cargo clippy"; cargo clippy --all-targets -- -D warnings
# The release artifacts (docs/packaging.md): tests/dist.rs checks them (glibc 2.17, a Debian 11
# chroot, lintian, rpm), the VM boot test systemd-package installs the .deb.
echo "== scripts/dist.sh"; bash scripts/dist.sh
echo "== cargo test"; cargo test --all-targets
# The property tests and the parser corpus runner again, release-like with overflow checks on
# (an overflow on outside input must fail, not wrap): docs/fuzzing.md.
echo "== cargo test --profile fuzzish (overflow checks)"
cargo test --profile fuzzish --test parsers_fuzz --test filebeat_props --test config_props
# AWS (feature `aws`, off by default: the SDK's build cost): lints, then the IMDSv2 / Auto
# Scaling tests against local fakes on 127.0.0.1 (docs/aws.md).
echo "== cargo clippy --features aws"; cargo clippy --all-targets --features aws -- -D warnings
echo "== cargo test --features aws"
cargo test --features aws --lib aws::
cargo test --features aws --test aws_imds --test aws_watch --test aws_doctor
echo "== e2e: real VM boots (docs/e2e.md)"; bash e2e/run.sh
echo "== all tests passed in $(( $(date +%s) - start ))s"
