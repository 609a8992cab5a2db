#!/usr/bin/env python3
"""Cost model: instructions per request, counted by valgrind's callgrind.

    scripts/bench/cost-model.py [--bin BINARY]... [--requests N] [--out FILE]

Timings on a shared machine wander by 30% from run to run; instruction counts do not. For
each binary (default: target/release/piauth; add the i686 build from
`scripts/build/cross-build.sh i686-unknown-linux-musl` for the 32-bit code paths a 32-bit Pi
runs), this prepares a store natively (Pi Zero W profile from the cpuinfo fixture, one key
per algorithm, a client, a user), restarts the server on it under callgrind, and for each
case sends a few warm-up requests, zeroes the counters (callgrind_control -z), sends N
requests over one keep-alive connection, dumps (callgrind_control -d) and divides. Every
thread of the server counts: HTTP parsing, client authentication, the store, signing.

From instructions it predicts the time on a Pi with stated assumptions (instructions per
cycle of the core, and ARM instructions ~ x86 instructions of the same word size); real
hardware is the judge, and these figures are what to compare it with.
"""

import argparse
import datetime
import glob
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from piauthproc import ROOT, RELEASE_BIN, Piauth, basic, elf_bits  # noqa: E402

ZERO = os.path.join(ROOT, "tests", "fixtures", "cpuinfo", "pizerow-9000c1.cpuinfo")

# (board, clock GHz, assumed instructions per cycle, which build it runs)
PIS = [
    ("Pi Zero / Zero W (ARM1176, 1 GHz, 32-bit)", 1.0, 0.6, 32),
    ("Pi 4 (Cortex-A72, 1.5 GHz, 64-bit OS)", 1.5, 1.4, 64),
    ("Pi 4 (Cortex-A72, 1.5 GHz, 32-bit OS)", 1.5, 1.2, 32),
]


class Conn:
    """One keep-alive connection, like a device would hold."""

    def __init__(self, server):
        self.c = http.client.HTTPConnection(server.host, server.port, timeout=600)

    def text(self, path):
        self.c.request("GET", path)
        r = self.c.getresponse()
        return r.read().decode()

    def request(self, method, path, body=None, auth=None):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if auth:
            headers["Authorization"] = auth
        self.c.request(method, path, body, headers)
        r = self.c.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")
        return json.loads(data)


def callgrind(pid, op, outbase):
    before = set(glob.glob(outbase + "*"))
    subprocess.run(["callgrind_control", op, str(pid)], check=True, capture_output=True, timeout=600)
    if op != "-d":
        return None
    for _ in range(600):
        new = sorted(set(glob.glob(outbase + "*")) - before)
        if new and os.path.getsize(new[-1]) > 0:
            time.sleep(0.2)
            with open(new[-1]) as f:
                for line in f:
                    m = re.match(r"(?:summary|totals):\s+(\d+)", line)
                    if m:
                        return int(m.group(1))
        time.sleep(0.1)
    raise RuntimeError("callgrind dump not found")


def settle(server, conn):
    """Waits until the ES256 nonce pool (32-bit builds, src/jose/es256.rs) is full again.

    Its thread makes nonces in the background, so without this a phase's count would hold
    refills for the phases before it. Settled before and after, a phase counts exactly the
    nonces its own tokens used: the whole cost of each signature, not only the request's
    share. The /metrics polls after a phase are counted too (a few, about 0.1M each)."""
    if not getattr(server, "pool", 0):
        return
    while True:
        m = re.search(r"^piauth_es256_nonces_ready (\d+)$", conn.text("/metrics"), re.M)
        if m and int(m.group(1)) >= server.pool:
            return
        time.sleep(0.5)


def measure_in(server, outbase, warm, run, n, conn=None):
    """Instructions per call of run(i), i in 0..n, after warm()."""
    warm()
    settle(server, conn)
    callgrind(server.pid, "-z", outbase)
    for i in range(n):
        run(i)
    settle(server, conn)
    return callgrind(server.pid, "-d", outbase) / n


def model(binary, n, tmp):
    rows = []
    for alg in ["ES256", "EdDSA", "HS256", "RS256"]:
        data = os.path.join(tmp, f"{elf_bits(binary)}-{alg}")
        # Sized as a Pi Zero, which would wait for NTP; the machine measuring may lack it.
        args = ["--algorithm", alg, "--cpuinfo", ZERO, "--require-synced-clock", "false"]
        native = Piauth(data, args, binary=binary)
        secret = native.add_client("dev", ["client_credentials", "password", "refresh_token"])
        auth = basic("dev", secret)
        native.add_user("alice", "correct horse")
        # Tokens to present later, made natively (a password grant is slow under valgrind).
        password = "grant_type=password&username=alice&password=correct+horse"
        refresh = [native.post("/token", password, auth)["refresh_token"] for _ in range(n + 1)]
        fresh = [native.post("/token", "grant_type=client_credentials", auth)["access_token"]
                 for _ in range(n + 1)]
        native.stop()
        outbase = os.path.join(tmp, f"cg-{elf_bits(binary)}-{alg}.out")
        vg = Piauth(data, args, binary=binary, timeout=900, config="metrics = true\n",
                    runner=f"valgrind --tool=callgrind --callgrind-out-file={outbase}")
        try:
            if alg == "ES256" and elf_bits(binary) == 32:
                line = vg.wait_log(r"es256: (\d+) nonces ready", 900)
                vg.pool = int(re.search(r"es256: (\d+) nonces", line).group(1)) if line else 0
            conn = Conn(vg)
            measure = lambda *a: measure_in(*a, conn=conn)
            cc = lambda *_: conn.request("POST", "/token", "grant_type=client_credentials", auth)
            rows.append((f"client_credentials {alg}", measure(vg, outbase, cc, cc, n)))
            if alg != "ES256":
                continue
            pw = lambda *_: conn.request("POST", "/token", password, auth)
            rows.append(("password (Zero W profile: Argon2id 8 MiB x 1)", measure(vg, outbase, pw, pw, 2)))
            rows.append(("refresh_token (durable rotation)", measure(
                vg, outbase, lambda: conn.request("POST", "/token", f"grant_type=refresh_token&refresh_token={refresh[n]}", auth),
                lambda i: conn.request("POST", "/token", f"grant_type=refresh_token&refresh_token={refresh[i]}", auth), n)))
            rows.append(("introspect, first sight (verifies)", measure(
                vg, outbase, lambda: conn.request("POST", "/introspect", f"token={fresh[n]}", auth),
                lambda i: conn.request("POST", "/introspect", f"token={fresh[i]}", auth), n)))
            rows.append(("introspect, seen before (cache)", measure(
                vg, outbase, lambda: None,
                lambda i: conn.request("POST", "/introspect", f"token={fresh[i]}", auth), n)))
            jwks = lambda *_: conn.request("GET", "/jwks.json")
            rows.append(("GET /jwks.json", measure(vg, outbase, jwks, jwks, n)))
        finally:
            vg.stop()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", help="binary to measure (repeatable)")
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "results", "cost-model.md"))
    args = ap.parse_args()
    bins = [os.path.abspath(b) for b in (args.bin or [RELEASE_BIN])]
    sizes = [elf_bits(b) for b in bins]
    if len(set(sizes)) < len(sizes):
        # The table has one column per word size, and the data directories are named by it.
        sys.exit("one binary per word size: measure another build of the same size in a "
                 "second run, with its own --out")
    tmp = tempfile.TemporaryDirectory()
    results = {}
    for b in bins:
        bits = elf_bits(b)
        print(f"== {b} ({bits}-bit)", flush=True)
        for name, ir in model(b, args.requests, tmp.name):
            print(f"{name:48} {ir / 1e6:10.3f} M instructions", flush=True)
            results.setdefault(name, {})[bits] = ir

    cols = sorted({bits for r in results.values() for bits in r}, reverse=True)
    label = {64: "x86_64", 32: "i686 (32-bit)"}
    lines = ["# piauth cost model", "",
             f"- date: {datetime.date.today()}; valgrind {subprocess.run(['valgrind', '--version'], capture_output=True, text=True).stdout.strip()}",
             f"- command: `scripts/bench/cost-model.py {' '.join('--bin ' + os.path.relpath(b, ROOT) for b in bins)} --requests {args.requests}`",
             "- instructions per request, every server thread, counted by callgrind over "
             f"{args.requests} requests on one keep-alive connection (password: 2)",
             "- prediction = instructions / (IPC x clock); IPC is an assumption per core (in the "
             "header), and ARM code is assumed to need as many instructions as x86 code of the same "
             "word size. 32-bit Pis run the 32-bit build (RustCrypto P-256); a 64-bit Pi 4 runs "
             "AArch64 (ring P-256, like x86_64).", ""]
    head = "| request | " + " | ".join(f"M instr. {label[c]}" for c in cols)
    head += " | " + " | ".join(f"{p[0]}, IPC {p[2]}" for p in PIS if p[3] in cols) + " |"
    lines += [head, "|---" * (1 + len(cols) + sum(1 for p in PIS if p[3] in cols)) + "|"]
    for name, by_bits in results.items():
        cells = [f"{by_bits[c] / 1e6:,.2f}" if c in by_bits else "" for c in cols]
        for _, ghz, ipc, bits in PIS:
            if bits not in cols:
                continue
            ir = by_bits.get(bits)
            if ir is None:
                cells.append("")
                continue
            ms = ir / (ipc * ghz * 1e9) * 1e3
            cells.append(f"{ms:,.2f} ms ({1000 / ms:,.0f}/s)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
