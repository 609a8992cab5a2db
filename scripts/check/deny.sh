#!/usr/bin/env bash
# `cargo deny check` against deny.toml: advisories (every accepted one has its reason in
# deny.toml), licences, banned or duplicate crates, sources.
#
# The advisory database is a git repository on GitHub. Where it cannot be fetched (this
# workplace reaches only the package registries), a copy already on the machine is used;
# with none, the advisories are NOT checked and the script says so, loudly, and still checks
# the rest.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo-deny >/dev/null || cargo install cargo-deny --locked --version 0.20.2
if timeout 120 cargo deny fetch >/dev/null 2>&1; then
    cargo deny check
elif ls "${CARGO_HOME:-$HOME/.cargo}"/advisory-dbs/advisory-db-*/crates >/dev/null 2>&1; then
    db=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/advisory-dbs/advisory-db-*)
    echo "advisory database unreachable: using the copy on this machine ($(git -C "$db" log -1 --format=%cs 2>/dev/null || echo 'date unknown'))"
    cargo deny --offline check
else
    echo "WARNING: advisory database unreachable and none on this machine: advisories NOT checked" >&2
    cargo deny --offline check bans licenses sources
fi
