#!/usr/bin/env bash
# Builds the Debian package for a Pi on a PC, in one command:
#
#   scripts/build/deb.sh [--no-build] [TARGET]
#
# TARGET: arm-unknown-linux-musleabihf (default: every Pi on a 32-bit OS, Pi 1 and Zero
# included), armv7-unknown-linux-musleabihf, or aarch64-unknown-linux-musl (64-bit Pi OS).
# It runs the docker-less cross build (scripts/build/cross-build.sh, installing its tools on
# first use: run as root on Debian 12), installs cargo-deb if missing, and prints the path
# of the .deb. --no-build packages the binary already in target/TARGET/release/.
# On the Pi: sudo apt install ./piauth_*.deb
set -euo pipefail
cd "$(dirname "$0")/../.."

build=1 target=arm-unknown-linux-musleabihf
for a in "$@"; do
    case "$a" in
        --no-build) build=0 ;;
        -h|--help) sed -n 2,12p "$0"; exit 0 ;;
        -*) echo "deb.sh: unknown option $a" >&2; exit 2 ;;
        *) target=$a ;;
    esac
done

if [ "$build" = 1 ]; then
    install=()
    # The cross toolchain (Debian's Rust with its std sources, zig) is fetched once.
    if ! [ -x /opt/piauth-zig/bin/cargo-zigbuild ] || ! [ -x /usr/bin/rustc ]; then
        install=(--install)
    fi
    bash scripts/build/cross-build.sh "${install[@]}" "$target"
fi
bin="target/$target/release/piauth"
[ -x "$bin" ] || { echo "deb.sh: $bin missing: build it first (drop --no-build)" >&2; exit 1; }
command -v cargo-deb >/dev/null || cargo install --locked --quiet cargo-deb
# The release profile already strips; the host's strip cannot read ARM binaries.
deb=$(cargo deb --no-build --no-strip --target "$target" | tail -n 1)
echo "$deb"
