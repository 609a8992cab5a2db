#!/usr/bin/env python3
"""Flood: far more requests than the board can serve, from more connections than it admits.

Starts the release binary sized as a Pi 1 (2 workers, at most 128 connections, 16 from one
address) and opens --connections keep-alive connections, each from its own loopback address,
plus --one-address more from a single address. Every connection sends client_credentials
requests and password logins back to back for --seconds. A full server must say so: every
answer is 200, 429 or 503 (a connection turned away by the connection cap gets a 503 and is
closed). At the end the server must still run, its peak RSS must stay under --max-rss-mib,
and a token request must be answered at once. Prints a table; exits 1 when any of that
fails. Standard library only.

    scripts/bench/flood.py [--bin BINARY] [--seconds S] [--connections N] [--one-address M]
"""

import argparse
import collections
import http.client
import os
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from piauthproc import Piauth, basic, status_kib  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/piauth"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--one-address", type=int, default=50)
    ap.add_argument("--max-rss-mib", type=float, default=64)
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    fixtures = os.path.join(ROOT, "tests", "fixtures")
    server = Piauth(os.path.join(tmp.name, "data"), binary=args.bin, serve_args=[
        "--cpuinfo", os.path.join(fixtures, "cpuinfo", "pi1b-0002.cpuinfo"),
        "--meminfo", os.path.join(fixtures, "meminfo-pi1b-256mb.txt"),
        # A Pi waits for NTP before minting; the machine measuring may lack it.
        "--require-synced-clock", "false"])
    auth = basic("flood", server.add_client("flood", ["client_credentials", "password"]))
    server.add_user("flood", "flood-password")
    idle_kib = status_kib(server.proc.pid, "VmRSS")

    forms = ["grant_type=client_credentials",
             "grant_type=password&username=flood&password=flood-password"]
    counts = collections.Counter()
    lock = threading.Lock()
    stop = time.monotonic() + args.seconds

    def source(i):
        if i >= args.connections:
            return "127.0.200.1"
        return f"127.0.{1 + i // 250}.{1 + i % 250}"

    def worker(i):
        conn = None
        n = 0
        while time.monotonic() < stop:
            n += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(server.host, server.port, timeout=30,
                                                      source_address=(source(i), 0))
                form = forms[n % len(forms)]
                conn.request("POST", "/token", body=form, headers={
                    "Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
                r = conn.getresponse()
                r.read()
                outcome = str(r.status)
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                if r.status in (429, 503):
                    # As a well-behaved device would: wait as told, a little.
                    time.sleep(min(float(r.getheader("Retry-After", "1")), 1.0) / 10)
            except TimeoutError:
                outcome = "timeout"
                conn = None
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                outcome = type(e).__name__
                conn = None
            with lock:
                counts[outcome] += 1

    peak = [0]

    def sampler():
        while time.monotonic() < stop:
            peak[0] = max(peak[0], status_kib(server.proc.pid, "VmRSS"))
            time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(args.connections + args.one_address)]
    threads.append(threading.Thread(target=sampler))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    failures = []
    alive = server.proc.poll() is None
    if not alive:
        failures.append(f"the server exited (status {server.proc.returncode}): "
                        + "".join(server.log[-10:]))
    else:
        peak_kib = status_kib(server.proc.pid, "VmHWM")
        started = time.monotonic()
        try:
            ok = "access_token" in server.post("/token", "grant_type=client_credentials", auth, timeout=10)
        except OSError as e:
            ok = False
            failures.append(f"after the flood a token request failed: {e}")
        after = time.monotonic() - started
        if not ok or after > 2:
            failures.append(f"after the flood a token took {after:.2f} s")
        if peak_kib / 1024 > args.max_rss_mib:
            failures.append(f"peak RSS {peak_kib / 1024:.1f} MiB over {args.max_rss_mib} MiB")
        server.stop()
    unexpected = {k: v for k, v in counts.items() if k not in ("200", "429", "503")}
    if unexpected:
        failures.append(f"answers other than 200, 429 or 503: {unexpected}")

    total = sum(counts.values())
    print("| connections (own address + one address) | seconds | requests | 200 | 429 | 503 | other "
          "| idle RSS | peak RSS (VmHWM) | token after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    if alive:
        print(f"| {args.connections} + {args.one_address} | {args.seconds:g} | {total} | {counts['200']} "
              f"| {counts['429']} | {counts['503']} | {sum(unexpected.values())} | {idle_kib / 1024:.1f} MiB "
              f"| {peak_kib / 1024:.1f} MiB | {after * 1000:.0f} ms |")
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
