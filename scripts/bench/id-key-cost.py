#!/usr/bin/env python3
"""What OpenID Connect's RS256 ID-token key costs: making it, and signing with it.

    scripts/bench/id-key-cost.py [--bin FILE] [--runner CMD] [--runs N] [--signs N]

For each of N fresh starts (default 3) of the default configuration (ES256 access tokens):
the time from spawn to the first answered request, the time to the first access token (a
client registered and served while the RSA key is still being made), and the time the
server logs for making the RS256 key on its low-priority thread. Then, with `--algorithm
RS256`, the median time of N sequential client_credentials tokens (default 20): one RS256
signature each, the cost an ID token adds to a sign-in. Under --runner (for example
"taskset -c 1 qemu-arm-static -cpu arm1176" for a Pi 1's ARMv6) only ratios mean much.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from piauthproc import Piauth, basic  # noqa: E402


def start(binary, runner, args):
    d = tempfile.TemporaryDirectory()
    s = Piauth(os.path.join(d.name, "data"), args, binary=binary, runner=runner,
               admin_runner=runner, timeout=600)
    return s, d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=None)
    ap.add_argument("--runner", default="")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--signs", type=int, default=20)
    a = ap.parse_args()

    print(f"binary {a.bin or 'target/release/piauth'}; runner {a.runner or '(none)'}")
    print("start | first request ms | first token ms (key still being made?) | RS256 key made in ms")
    for i in range(a.runs):
        s, d = start(a.bin, a.runner, [])
        secret = s.add_client("probe")
        t0 = time.monotonic()
        s.post("/token", "grant_type=client_credentials", basic("probe", secret))
        first_token = (time.monotonic() - t0) * 1000
        pending = not any("ID tokens: RS256 key" in l for l in s.log)
        line = s.wait_log(r"ID tokens: RS256 key \S+, made in \d+ ms", 1800)
        made = re.search(r"made in (\d+) ms", line).group(1) if line else "not within 30 min"
        print(f"{i + 1} | {s.startup_ms:.0f} | {first_token:.0f} ({'yes' if pending else 'no'}) | {made}")
        s.stop()
        d.cleanup()

    s, d = start(a.bin, a.runner, ["--algorithm", "RS256"])
    secret = s.add_client("probe")
    times = []
    for _ in range(a.signs + 1):
        t0 = time.monotonic()
        s.post("/token", "grant_type=client_credentials", basic("probe", secret))
        times.append((time.monotonic() - t0) * 1000)
    s.stop()
    d.cleanup()
    print(f"RS256 token (one signature), median of {a.signs}: {statistics.median(times[1:]):.1f} ms; "
          f"ES256 for comparison: see the first-token column")


if __name__ == "__main__":
    main()
