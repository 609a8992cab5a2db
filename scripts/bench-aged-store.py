#!/usr/bin/env python3
"""Start-up time and idle RSS with an aged store: a month of refresh rotations.

    scripts/bench-aged-store.py [--bin BINARY]... [--rotations N]

Used refresh tokens stay stored until they expire (30 days), so that a replayed one revokes
its family (RFC 9700 §4.14). A device that refreshes every 15 minutes leaves 2,880 of them a
month. This builds such a store through the real server (a password grant, then N rotations
over 4 keep-alive connections, every one flushed to disk), then restarts each binary on a
copy of it with the 256 MB Pi 1 profile and reports the time to the first answered request
and the RSS after start-up (which includes the start-up purge). Standard library only.
"""

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from piauthproc import ROOT, RELEASE_BIN, Piauth, basic  # noqa: E402

PI1 = ["--cpuinfo", os.path.join(ROOT, "..", "shared", "fixtures", "cpuinfo", "pi1b-0002.cpuinfo"),
       "--meminfo", os.path.join(ROOT, "tests", "fixtures", "meminfo-pi1b-256mb.txt")]


def age(server, auth, rotations, connections=4):
    def worker(k):
        c = http.client.HTTPConnection(server.host, server.port, timeout=60)
        headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
        c.request("POST", "/token", "grant_type=password&username=dev&password=dev-password", headers)
        refresh = json.loads(c.getresponse().read())["refresh_token"]
        for _ in range(rotations // connections):
            c.request("POST", "/token", f"grant_type=refresh_token&refresh_token={refresh}", headers)
            r = c.getresponse()
            body = json.loads(r.read())
            if r.status != 200:
                raise RuntimeError(body)
            refresh = body["refresh_token"]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", help="binary to restart on the aged store (repeatable)")
    ap.add_argument("--rotations", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    bins = args.bin or [RELEASE_BIN]
    tmp = tempfile.TemporaryDirectory()
    data = os.path.join(tmp.name, "aged")
    s = Piauth(data, PI1, binary=bins[-1])
    auth = basic("dev", s.add_client("dev", ["password", "refresh_token"]))
    s.add_user("dev", "dev-password")
    t0 = time.monotonic()
    age(s, auth, args.rotations)
    print(f"aged: {args.rotations} durable rotations in {time.monotonic() - t0:.1f} s; "
          f"store {sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data) for f in fs) / 2**20:.1f} MiB on disk")
    s.stop()
    print("| binary | start-up, median of runs | RSS after start-up |")
    print("|---|---|---|")
    for b in bins:
        starts, rss = [], []
        for i in range(args.runs):
            copy = os.path.join(tmp.name, f"copy-{i}")
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(data, copy)
            s = Piauth(copy, PI1, binary=b)
            time.sleep(0.5)
            starts.append(s.startup_ms)
            rss.append(s.kib("VmRSS"))
            s.stop()
        print(f"| {os.path.relpath(b, ROOT) if b.startswith(ROOT) else b} | {sorted(starts)[len(starts) // 2]:.0f} ms "
              f"| {sorted(rss)[len(rss) // 2] / 1024:.1f} MiB |", flush=True)


if __name__ == "__main__":
    main()
