#!/usr/bin/env bash
# Runs each cargo-fuzz target (tests/fuzz) for SECONDS (default 300) from its seeds, and
# prints libFuzzer's closing figures. A crash stops the script with its input saved in
# tests/fuzz/artifacts/TARGET/; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz TARGET ARTIFACT
# and turn it into a regression test beside the code it broke.
#
#   scripts/check/fuzz.sh [SECONDS] [TARGET...]     (targets: request jwt cpuinfo)
#
# cargo fuzz wants a nightly compiler; RUSTC_BOOTSTRAP lets the stable one take its flags.
# It needs a C++ compiler for libFuzzer (g++, as on Debian 12).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request jwt cpuinfo)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
export RUSTC_BOOTSTRAP=1
RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir tests/fuzz -O
for t in "${targets[@]}"; do
    # The corpus grows outside the repository; the seeds stay as committed.
    corpus="target/fuzz-corpus/$t"
    mkdir -p "$corpus"
    echo "== fuzzing $t for ${seconds} s"
    log="target/fuzz-$t.log"
    status=0
    cargo fuzz run --fuzz-dir tests/fuzz -O "$t" "$corpus" "tests/fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|panicked|SUMMARY' "$log" || true
    if [ "$status" != 0 ] || [ -n "$(find "tests/fuzz/artifacts/$t" -type f 2>/dev/null | head -n 1)" ]; then
        tail -n 30 "$log" >&2
        echo "fuzz target $t failed: see tests/fuzz/artifacts/$t" >&2
        exit 1
    fi
done
