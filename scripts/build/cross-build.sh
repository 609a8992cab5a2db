#!/usr/bin/env bash
# Cross-builds static release binaries for the Raspberry Pi without docker, and optionally
# smoke-tests them under qemu user emulation of the real CPUs.
#
#   scripts/build/cross-build.sh [--install] [--smoke] [--example NAME] [TARGET...]
#
# TARGETs: arm-unknown-linux-musleabihf (ARMv6: Pi 1, Zero, Zero W, every 32-bit Pi),
#          armv7-unknown-linux-musleabihf (Pi 2, 3, 4, Zero 2 W on a 32-bit OS),
#          aarch64-unknown-linux-musl (64-bit Pi OS). Default: the two 32-bit ones.
#          i686-unknown-linux-musl is no Pi: it runs the 32-bit code paths on this machine,
#          under valgrind, for scripts/bench/cost-model.py.
#
# rustup here may lack the ARM targets, so this uses Debian's Rust and rebuilds std for the
# target (-Zbuild-std), with zig (from PyPI) as linker and musl provider. --install fetches
# what that needs (apt + pip; run as root on Debian 12). Binaries land in
# target/<triple>/release/piauth; --example NAME builds examples/NAME.rs instead, into
# target/<triple>/release/examples/NAME (e.g. sigcost, to time signatures under qemu).
set -euo pipefail
cd "$(dirname "$0")/../.."

install=0 smoke=0 targets=() what=()
while [ $# -gt 0 ]; do
    a=$1; shift
    case "$a" in
        --install) install=1 ;;
        --smoke) smoke=1 ;;
        --example) what=(--example "$1"); shift ;;
        -h|--help) sed -n 2,18p "$0"; exit 0 ;;
        *) targets+=("$a") ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(arm-unknown-linux-musleabihf armv7-unknown-linux-musleabihf)

venv=/opt/piauth-zig
if [ "$install" = 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true   # an armhf security index may lag; amd64 is all we need
    apt-get install -y -qq -t bookworm-security rustc-web cargo-web rust-web-src
    apt-get install -y -qq qemu-user-static python3-venv
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'ziglang==0.17.1' 'cargo-zigbuild==0.24.0'
fi

export PATH="$venv/bin:/usr/bin:$PATH"   # Debian's cargo/rustc before rustup's proxies
export RUSTC=/usr/bin/rustc
export RUSTC_BOOTSTRAP=1                 # -Zbuild-std on a stable compiler
for t in arm-unknown-linux-musleabihf armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl \
         i686-unknown-linux-musl; do
    v="CARGO_TARGET_$(echo "$t" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
    export "$v=-C link-self-contained=no"  # zig supplies crt1.o, musl and libunwind
done

for t in "${targets[@]}"; do
    echo "== building $t"
    start=$(date +%s)
    # No backtrace symbolizer (gimli, addr2line, miniz: ~100 KB): the binary is stripped, so
    # it would have nothing to read. Built for size where a Pi's time goes elsewhere (the
    # 4 MB budget): std, core and alloc (-157 KB on ARMv6; their generic code is compiled in
    # each caller, at its level), the HTTP stack (hyper, http, tokio: "s"), and piauth,
    # serde_json, jsonwebtoken and sled ("z", -290 KB): on a Pi a request's time is the
    # signature (p256, ring: opt-level 3) and the SD card. The x86_64 build keeps
    # Cargo.toml's levels (opt-level 3 on the request path).
    size=()
    for p in std core alloc hyper hyper-util http tokio; do
        size+=(--config "profile.release.package.$p.opt-level=\"s\"")
    done
    for p in piauth serde_json jsonwebtoken sled; do
        size+=(--config "profile.release.package.$p.opt-level=\"z\"")
    done
    /usr/bin/cargo zigbuild --release --locked --target "$t" -Zbuild-std=std,panic_abort \
        -Zbuild-std-features=panic-unwind "${size[@]}" "${what[@]}"
    [ ${#what[@]} -eq 0 ] || continue
    bin="target/$t/release/piauth"
    echo "== $t: $(stat -c %s "$bin") bytes, built in $(( $(date +%s) - start )) s"
done

if [ "$smoke" = 1 ]; then
    for t in "${targets[@]}"; do
        case "$t" in
            arm-*) runner="qemu-arm-static -cpu arm1176" ;;
            armv7-*) runner="qemu-arm-static -cpu cortex-a7" ;;
            aarch64-*) runner="qemu-aarch64-static -cpu cortex-a53" ;;
            i686-*) runner="" ;;
        esac
        "${PYTHON:-python3}" scripts/build/smoke.py --runner "$runner" "target/$t/release/piauth"
    done
fi
