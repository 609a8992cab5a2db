#!/usr/bin/env python3
"""Start-up time, idle RSS and disk use with an aged store: many grants, many rotations.

    scripts/bench/bench-aged-store.py [--bin BINARY]... [--families F] [--rotations N]

A home server's store ages two ways: grants (refresh-token families, up to the profile's cap)
and rotations (a device refreshing every 15 minutes rotates 2,880 times a month). For each
binary, this builds such a store through that binary (F password grants, then N durable
rotations spread over them on 4 keep-alive connections), then restarts it on copies of the
store with the 256 MB Pi 1 profile and reports the store's size on disk, the time to the
first answered request and the RSS after start-up (which includes the start-up purge).
Each binary ages its own store, so an older build is measured on its own layout.
Standard library only.
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from piauthproc import ROOT, RELEASE_BIN, Piauth, basic  # noqa: E402

# Sized as a Pi 1; a Pi waits for NTP before minting, which the machine measuring may lack.
PI1 = ["--cpuinfo", os.path.join(ROOT, "tests", "fixtures", "cpuinfo", "pi1b-0002.cpuinfo"),
       "--meminfo", os.path.join(ROOT, "tests", "fixtures", "meminfo-pi1b-256mb.txt"),
       "--require-synced-clock", "false"]


def age(server, auth, families, rotations, connections=4):
    def worker(k):
        c = http.client.HTTPConnection(server.host, server.port, timeout=60)
        headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}

        def post(body):
            c.request("POST", "/token", body, headers)
            r = c.getresponse()
            data = json.loads(r.read())
            if r.status != 200:
                raise RuntimeError(data)
            return data["refresh_token"]

        mine = [post("grant_type=password&username=dev&password=dev-password")
                for _ in range(k, families, connections)]
        for i in range(rotations // connections):
            j = i % len(mine)
            mine[j] = post(f"grant_type=refresh_token&refresh_token={mine[j]}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def disk_mib(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", help="binary to age a store with and restart (repeatable)")
    ap.add_argument("--families", type=int, default=1000)
    ap.add_argument("--rotations", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    bins = args.bin or [RELEASE_BIN]
    tmp = tempfile.TemporaryDirectory()
    rows = []
    for n, b in enumerate(bins):
        data = os.path.join(tmp.name, f"aged-{n}")
        s = Piauth(data, PI1, binary=b)
        auth = basic("dev", s.add_client("dev", ["password", "refresh_token"]))
        s.add_user("dev", "dev-password")
        t0 = time.monotonic()
        age(s, auth, args.families, args.rotations)
        aged_s = time.monotonic() - t0
        s.stop()
        starts, rss = [], []
        for i in range(args.runs):
            copy = os.path.join(tmp.name, f"copy-{n}-{i}")
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(data, copy)
            s = Piauth(copy, PI1, binary=b)
            time.sleep(0.5)
            starts.append(s.startup_ms)
            rss.append(s.kib("VmRSS"))
            s.stop()
        name = os.path.relpath(b, ROOT) if os.path.abspath(b).startswith(ROOT) else b
        rows.append(f"| {name} | {aged_s:.1f} s | {disk_mib(data):.1f} MiB "
                    f"| {sorted(starts)[len(starts) // 2]:.0f} ms | {sorted(rss)[len(rss) // 2] / 1024:.1f} MiB |")
        print(rows[-1], flush=True)
    print(f"\n{args.families} families, {args.rotations} rotations, Pi 1 profile, median of {args.runs} restarts\n")
    print("| binary | ageing took | store on disk | start-up to first answer | RSS after start-up |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
