#!/usr/bin/env bash
# Where sled's resident memory goes (issue 5): runs examples/sled_rss.rs for sled's default
# configuration and for piauth's (1 MiB cache, the 256 MB-board profile), on a new store and
# on reopening it, with a Pi 1-sized store (5,000 refresh records) and a large one (100,000).
# Writes docs/results/sled-memory.md (or the file given as $1).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked --example sled_rss
out=${1:-docs/results/sled-memory.md}
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
    echo "# sled 0.34 resident memory, step by step"
    echo
    echo "- date: $(date -u +%F); machine: $(uname -m), $(nproc) CPUs, glibc malloc"
    echo "- command: \`scripts/bench/sled-memory.sh\` (\`examples/sled_rss.rs\`); RSS from /proc/self/smaps, MiB"
    echo "- exe: the binary's pages; heap: the main malloc heap; anon: thread arenas, stacks and"
    echo "  large allocations; files: shared libraries. 64 MiB maps: glibc per-thread arenas"
    echo "  (address space reserved, not resident)."
    for records in 5000 100000; do
        for config in default piauth; do
            echo
            echo "### $config configuration, $records records: new store, then reopened"
            echo
            target/release/examples/sled_rss "$tmp/$config-$records" "$config" "$records"
            target/release/examples/sled_rss "$tmp/$config-$records" "$config" "$records" | tail -n +3
        done
    done
} > "$out"
cat "$out"
