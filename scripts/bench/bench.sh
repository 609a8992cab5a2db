#!/usr/bin/env bash
# The benchmark: builds the release binary, installs wrk if needed, and runs
# scripts/bench/bench.py, which writes docs/results/results.md and chart.svg (shown by the README).
#
#   scripts/bench/bench.sh            # full run, about 6 minutes
#   scripts/bench/bench.sh --quick    # 1 s per case, 16 connections only: what CI runs
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked
if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        echo "bench.sh: needs wrk (sudo apt-get install wrk)" >&2
        exit 1
    fi
fi
exec python3 scripts/bench/bench.py "$@"
