#!/usr/bin/env bash
# Runs every test of drainguard: formatting, lints, unit + integration tests (real files,
# real processes, systemd-analyze) and the end-to-end VM boots. .ci/run installs what these need on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# Prerequisites first: a missing tool fails here at once, not as a failed test half an
# hour in. Each entry: the command, then the Debian package .ci/run installs it from.
missing=()
need() { # need TOOL PACKAGE: on PATH or in /usr/sbin, /sbin
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] \
    || missing+=("$1 (package $2)")
}
command -v cargo >/dev/null 2>&1 || missing+=("cargo (rustup: https://rustup.rs)")
cargo fmt --version >/dev/null 2>&1 || missing+=("cargo fmt (rustup component add rustfmt)")
cargo clippy --version >/dev/null 2>&1 || missing+=("cargo clippy (rustup component add clippy)")
need systemd-analyze systemd
need rsyslogd rsyslog
need kill procps
need setpriv util-linux
need unshare util-linux
need strace strace
need ldd libc-bin
[ -x "${DG_SYSLOG_NG_DIR:-/opt/dg-syslog-ng}/usr/sbin/syslog-ng" ] \
  || missing+=("syslog-ng in ${DG_SYSLOG_NG_DIR:-/opt/dg-syslog-ng} (syslog-ng-core, unpacked)")
need qemu-system-x86_64 qemu-system-x86
need debootstrap debootstrap
need mkfs.ext4 e2fsprogs
need busybox busybox-static
need depmod kmod
need cpio cpio
need python3 python3
need timeout coreutils
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing prerequisites (.ci/run installs these packages on a fresh Debian 12):" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
echo "== cargo fmt --check"; cargo fmt --all -- --check
echo "== cargo clippy"; cargo clippy --all-targets -- -D warnings
# The release artifacts (docs/packaging.md): tests/integration/dist.rs checks them (glibc 2.17, a Debian 11
# chroot, lintian, rpm), the VM boot test systemd-package installs the .deb.
echo "== scripts/dist.sh"; bash scripts/dist.sh
echo "== cargo test"; cargo test --all-targets
# The property tests and the parser corpus runner again, release-like with overflow checks on
# (an overflow on outside input must fail, not wrap): docs/fuzzing.md.
echo "== cargo test --profile fuzzish (overflow checks)"
cargo test --profile fuzzish --test integration -- parsers_fuzz:: filebeat_props:: config_props::
# AWS (feature `aws`, off by default: the SDK's build cost): lints, then the IMDSv2 / Auto
# Scaling tests against local fakes on 127.0.0.1 (docs/aws.md).
echo "== cargo clippy --features aws"; cargo clippy --all-targets --features aws -- -D warnings
echo "== cargo test --features aws"
cargo test --features aws --lib aws::
cargo test --features aws --test integration -- aws_imds:: aws_watch:: aws_doctor::
echo "== e2e: real VM boots (docs/e2e.md)"; bash e2e/run.sh
echo "== all tests passed in $(( $(date +%s) - start ))s"
