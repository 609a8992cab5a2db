#!/usr/bin/env python3
"""piauth beside node oidc-provider, in one run: ES256 client_credentials tokens per second.

    scripts/bench/compare.py [--bin BINARY]... [--seconds 10] [--runs 3] [--connections 16]
                             [--out docs/results/compare.md]

More than one --bin (an older build, say) puts each beside the others in the same run.

Both servers issue the same thing: an ES256-signed JWT access token (RFC 9068 `at+jwt`) for a
client_secret_basic client, over plain HTTP on loopback. Each runs pinned to CPU 0, wrk to CPU
1 (taskset), over keep-alive connections; the runs alternate (piauth, oidc-provider, piauth,
...) so that a slow spell of the machine falls on both, and the table gives each server's
median. oidc-provider (pinned in scripts/bench/oidc-provider/package-lock.json) is installed
there with `npm ci` on first use; it wants Node.js 20.19 or later.
"""

import argparse
import importlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
bench = importlib.import_module("bench")
from piauthproc import RELEASE_BIN, Piauth, basic  # noqa: E402

PROVIDER = os.path.join(HERE, "oidc-provider")
SECRET = "bench-secret-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def oidc_provider():
    """Starts oidc-provider pinned to CPU 0; returns (process, url, version)."""
    if not os.path.isdir(os.path.join(PROVIDER, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PROVIDER, check=True)
    port = free_port()
    proc = subprocess.Popen(["taskset", "-c", "0", "node", "provider.mjs", str(port), "bench", SECRET],
                            cwd=PROVIDER, env={**os.environ, "NODE_ENV": "production"},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("listening"):
            break
    else:
        sys.exit("oidc-provider did not start")
    with open(os.path.join(PROVIDER, "node_modules", "oidc-provider", "package.json")) as f:
        version = __import__("json").load(f)["version"]
    return proc, f"http://127.0.0.1:{port}", version


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", help="piauth binary (repeatable; default: the release build)")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "docs", "results", "compare.md"))
    args = ap.parse_args()
    bins = args.bin or [RELEASE_BIN]

    tmp = tempfile.TemporaryDirectory()
    servers, pis = [], []
    for i, path in enumerate(bins):
        pi = Piauth(os.path.join(tmp.name, f"piauth{i}"), ["--algorithm", "ES256"], binary=path,
                    runner="taskset -c 0")
        pi.settled()
        pis.append(pi)
        auth = basic("bench", pi.add_client("bench", ["client_credentials"]))
        name = "piauth" if len(bins) == 1 else f"piauth ({path})"
        servers.append((name, pi.url, pi.proc.pid, bench.lua_post("/token", "grant_type=client_credentials", auth)))
    node, node_url, node_version = oidc_provider()
    node_auth = basic("bench", SECRET)
    body = "grant_type=client_credentials&scope=read"
    servers.append((f"oidc-provider {node_version}", node_url, node.pid, bench.lua_post("/token", body, node_auth)))
    results = {name: [] for name, *_ in servers}
    try:
        for server in servers:  # warm-up: JIT, caches, key loading
            bench.wrk(server[1], server[3], args.connections, 2, server[2])
        for _ in range(args.runs):
            for name, url, pid, script in servers:
                r = bench.wrk(url, script, args.connections, args.seconds, pid)
                if r["errors"]:
                    sys.exit(f"{name}: {r['errors']} errors")
                results[name].append(r)
                print(f"{name}: {r['rps']:,.0f} tokens/s", file=sys.stderr)
    finally:
        node.terminate()
        for pi in pis:
            pi.stop()

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    names = [name for name, *_ in servers]
    lines = [
        "# piauth beside oidc-provider",
        "",
        f"- date: {time.strftime('%Y-%m-%d')}; machine: {os.uname().machine}, {os.cpu_count()} CPUs",
        f"- command: `scripts/bench/compare.py --seconds {args.seconds} --runs {args.runs} "
        f"--connections {args.connections}` (servers `taskset -c 0`, wrk `taskset -c 1`)",
        "- both: ES256 `at+jwt` access tokens, `client_credentials`, `client_secret_basic`, HTTP on loopback",
        "",
        "| server | tokens/s (median) | runs | p50 | p99 | server CPU per token |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        runs = ", ".join(f"{r['rps']:,.0f}" for r in results[name])
        lines.append(f"| {name} | {median(name, 'rps'):,.0f} | {runs} | {median(name, 'p50_us') / 1000:.2f} ms "
                     f"| {median(name, 'p99_us') / 1000:.2f} ms | {median(name, 'cpu_us_per_req'):.0f} µs |")
    lines.append("")
    for name in names[:-1]:
        lines.append(f"{name} / {names[-1]}: ×{median(name, 'rps') / median(names[-1], 'rps'):.2f}")
    lines.append("")
    text = "\n".join(lines)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
