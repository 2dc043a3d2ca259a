#!/usr/bin/env bash
# Builds the release artifacts into dist/ from a clean checkout (docs/packaging.md):
#   drainguard-<version>-<arch>-linux.tar.gz  binary, man pages, completions, contrib/, docs/, README, LICENSE
#   drainguard_<version>-1_<debarch>.deb      (cargo-deb, gzip payload)
#   drainguard-<version>-1.<arch>.rpm         (cargo-generate-rpm, gzip payload)
#   SHA256SUMS
# The binary is the full one (--features aws), linked against glibc 2.17 with cargo-zigbuild,
# so it runs on Amazon Linux 1/2, CentOS/RHEL 7+, Debian 8+, Ubuntu 14.04+.
#
# Usage: scripts/dist.sh [--target TRIPLE.GLIBC]     (or DG_DIST_TARGET)
#   default x86_64-unknown-linux-gnu.2.17; aarch64-unknown-linux-gnu.2.17 for Graviton, where
#   the aarch64 Rust standard library is installed (`rustup target add aarch64-unknown-linux-gnu`).
# DRAINGUARD_MAINTAINER="Name <address>": the packages' Maintainer (.deb) and Vendor (.rpm);
#   default Cargo.toml's [package.metadata.deb] maintainer. A fleet sets its own for its builds.
# Tools: ziglang and cargo-zigbuild (PyPI) in a private venv, cargo-deb and cargo-generate-rpm
# (crates.io), all under DG_DIST_TOOLS (default ~/.cache/drainguard-dist), installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${DG_DIST_TARGET:-x86_64-unknown-linux-gnu.2.17}
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=${2:?--target needs a value}; shift 2 ;;
    --target=*) target=${1#--target=}; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "dist.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
# The maintainer: one value, in Cargo.toml's [package.metadata.deb] (cargo-deb reads it), passed
# to both packagers so the .deb and the .rpm never disagree. Checked first: it goes into a
# control field and a TOML string, so no quote, backslash or control character.
maintainer=$(sed -n '/^\[package\.metadata\.deb\]/,/^\[/s/^maintainer = "\(.*\)"$/\1/p' Cargo.toml)
if [ -n "${DRAINGUARD_MAINTAINER+set}" ]; then maintainer=$DRAINGUARD_MAINTAINER; fi
maintainer_re='^[^"\<>[:cntrl:]]+ <[^"\<>@[:cntrl:][:space:]]+@[^"\<>[:cntrl:][:space:]]+>$'
if ! [[ $maintainer =~ $maintainer_re ]]; then
  echo "dist.sh: maintainer ${maintainer@Q} (DRAINGUARD_MAINTAINER, else Cargo.toml's" >&2
  echo "         [package.metadata.deb] maintainer) is not \"Name <address>\" without quotes," >&2
  echo "         backslashes or control characters" >&2
  exit 2
fi
case "$maintainer" in
  *@example.org\>) echo "== maintainer: $maintainer (the placeholder: set DRAINGUARD_MAINTAINER for your own builds)" ;;
  *) echo "== maintainer: $maintainer" ;;
esac
triple=${target%%.*}          # x86_64-unknown-linux-gnu.2.17 -> x86_64-unknown-linux-gnu
arch=${triple%%-*}            # x86_64 | aarch64
case "$arch" in
  x86_64|aarch64) ;;
  *) echo "dist.sh: unsupported target $target (x86_64 or aarch64 -unknown-linux-gnu.2.17)" >&2; exit 2 ;;
esac
if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
  echo "dist.sh: the Rust standard library for $triple is not installed here;" >&2
  echo "         run 'rustup target add $triple' where the Rust distribution server is reachable." >&2
  exit 2
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || { echo "dist.sh: no version in Cargo.toml" >&2; exit 2; }
changelog=$(sed -n '1s/^drainguard (\([^)]*\)).*/\1/p' packaging/deb/changelog)
[ "$changelog" = "$version-1" ] || {
  echo "dist.sh: packaging/deb/changelog's top entry is $changelog, Cargo.toml says $version: add an entry for $version-1" >&2
  exit 2
}

# ---- tools (pinned; installed once, then reused) ------------------------------------------------
tools=${DG_DIST_TOOLS:-$HOME/.cache/drainguard-dist}
ZIGLANG=0.17.1 CARGO_ZIGBUILD=0.24.1 CARGO_DEB=3.8.0 CARGO_GENERATE_RPM=0.21.1
mkdir -p "$tools"
if ! "$tools/venv/bin/cargo-zigbuild" --version 2>/dev/null | grep -q "$CARGO_ZIGBUILD" \
   || ! "$tools/venv/bin/python" -m ziglang version >/dev/null 2>&1; then
  echo "== installing ziglang $ZIGLANG and cargo-zigbuild $CARGO_ZIGBUILD (PyPI) into $tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q "ziglang==$ZIGLANG" "cargo-zigbuild==$CARGO_ZIGBUILD"
fi
for t in "cargo-deb $CARGO_DEB" "cargo-generate-rpm $CARGO_GENERATE_RPM"; do
  set -- $t
  if ! "$tools/cargo/bin/$1" --version 2>/dev/null | grep -q "$2"; then
    echo "== installing $1 $2 (crates.io) into $tools/cargo"
    cargo install --quiet --locked --root "$tools/cargo" "$1" --version "$2"
  fi
done
export PATH="$tools/venv/bin:$tools/cargo/bin:$PATH"

# ---- the binary -------------------------------------------------------------------------------
echo "== cargo zigbuild --profile dist --features aws --target $target"
start=$(date +%s)
cargo zigbuild --locked --profile dist --features aws --target "$target"
echo "== built in $(( $(date +%s) - start ))s"
bin=target/$triple/dist/drainguard
glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
echo "== $bin: newest glibc symbol version $glibc"

# ---- man pages and completions, generated by the binary itself (or, cross-built, by a host build
# of the same source) -----------------------------------------------------------------------------
assets=target/dist-assets
rm -rf "$assets"
mkdir -p "$assets/man-gz"
if "$bin" --version >/dev/null 2>&1; then
  gen=("$bin")
else
  cargo build --quiet --locked --features aws
  gen=(target/debug/drainguard)
fi
"${gen[@]}" generate man "$assets/man" >/dev/null
"${gen[@]}" generate completions "$assets/completions" >/dev/null
for page in "$assets"/man/*.1; do
  gzip -9n < "$page" > "$assets/man-gz/$(basename "$page").gz"
done

# ---- dist/ ------------------------------------------------------------------------------------
mkdir -p dist
# Everything in the archives gets this time: the same source gives the same files.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
name=drainguard-$version-$arch-linux
stage=target/dist-stage/$name
rm -rf "target/dist-stage" && mkdir -p "$stage"
install -m 755 "$bin" "$stage/drainguard"
cp -r "$assets/man" "$assets/completions" contrib "$stage/"
install -m 644 README.md LICENSE "$stage/"
# The same docs as the packages' /usr/share/doc/drainguard/docs/.
install -d "$stage/docs" && install -m 644 docs/*.md "$stage/docs/"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  -C target/dist-stage -cf - "$name" | gzip -9n > "dist/$name.tar.gz"

rm -f dist/drainguard_"$version"-1_*.deb dist/drainguard-"$version"-1.*.rpm
# gzip payloads: rpm 4.11 (Amazon Linux 2, RHEL 7) cannot read zstd, and dpkg unpacks gzip
# several times faster than cargo-deb's default xz (docs/packaging.md, "Package upgrade time").
cargo deb --no-build --locked --target "$triple" --profile dist --compress-type gz \
  --maintainer "$maintainer" --output dist/
cargo generate-rpm --target "$triple" --profile dist --payload-compress gzip \
  --set-metadata "vendor = \"$maintainer\"" -o dist/

(cd dist && rm -f SHA256SUMS && sha256sum -- *.tar.gz *.deb *.rpm > SHA256SUMS)
echo "== dist/:"
ls -l dist/
