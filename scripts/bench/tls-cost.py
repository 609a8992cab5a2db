#!/usr/bin/env python3
"""What HTTPS costs a token: ES256 client_credentials over plain HTTP and over TLS.

Two servers of the same binary (tls = "off" and tls = "on", the certificate piauth makes at
first start), each pinned to CPU 0, wrk pinned to CPU 1. Four cases, alternated over
--runs rounds, each --seconds long: keep-alive connections, and one connection per token
(the client sends `Connection: close`, so over TLS every token pays a full handshake).
Prints tokens/s and the server's CPU per token (from /proc/PID/stat), medians over the
rounds, as a Markdown table.
"""

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from piauthproc import Piauth, basic, RELEASE_BIN  # noqa: E402
import bench  # noqa: E402


def script(auth, close):
    extra = 'wrk.headers["Connection"] = "close"\n' if close else ""
    return extra + bench.lua_post("/token", "grant_type=client_credentials", auth)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", default=RELEASE_BIN)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    servers, started = {}, []
    cases = [("HTTP, keep-alive", "off", False), ("HTTPS, keep-alive", "on", False),
             ("HTTP, a connection per token", "off", True), ("HTTPS, a connection (handshake) per token", "on", True)]
    results = {name: [] for name, _, _ in cases}
    try:
        # Started inside the try, so that a second server that fails to start does not leave
        # the first one running.
        for mode in ["off", "on"]:
            s = Piauth(os.path.join(tmp.name, mode), ["--algorithm", "ES256"], config=f'tls = "{mode}"\n',
                       binary=args.bin, runner="taskset -c 0")
            started.append(s)
            s.settled()
            servers[mode] = (s, basic("bench", s.add_client("bench")))
        for _ in range(args.runs):
            for name, mode, close in cases:
                s, auth = servers[mode]
                r = bench.wrk(s.url, script(auth, close), args.connections, args.seconds, s.proc.pid)
                if r["errors"]:
                    sys.exit(f"{name}: {r['errors']} errors")
                results[name].append(r)
                print(f"{name:44} {r['rps']:9.0f} tokens/s  {r['cpu_us_per_req']:6.1f} µs CPU/token", flush=True)
    finally:
        for s in started:
            s.stop()
    base = statistics.median(r["cpu_us_per_req"] for r in results[cases[0][0]])
    print(f"\n{os.path.getsize(args.bin):,}-byte binary, {args.connections} connections, medians of {args.runs} "
          f"runs of {args.seconds:g} s\n")
    print("| case | tokens/s | server CPU per token | over plain keep-alive |")
    print("|---|---|---|---|")
    for name, _, _ in cases:
        rps = statistics.median(r["rps"] for r in results[name])
        cpu = statistics.median(r["cpu_us_per_req"] for r in results[name])
        print(f"| {name} | {rps:,.0f} | {cpu:.0f} µs | {cpu - base:+.0f} µs |")


if __name__ == "__main__":
    main()
