#!/usr/bin/env python3
"""Signing speed of a Pi build under qemu, beside Debian's armel OpenSSL in the same run.

    scripts/bench/pi-speed.py [--bin BINARY]... [--cpu arm1176] [--seconds 5]
                              [--connections 4] [--devices 200] [--out FILE]

The ratio is the figure (issue 14): qemu's absolute speed is the host's, but OpenSSL's
ARMv4 assembly and piauth's build run under the same emulation of the same core, one
after the other, each pinned to CPU 0. For each binary (default: the ARMv6 build) and each
algorithm it measures:

- sustained: `client_credentials` tokens/s over N keep-alive connections for S seconds
  (wrk on CPU 1), after a warm-up, so the server's state is what it is under steady load;
- burst (ES256): D devices, each from its own loopback address, open a connection and ask
  for a token at the same moment, as after a power cut; a device answered 503 or 429
  tries again after the Retry-After it was given. Reported: first request to last token;
- password grant (HS256 run): a person's login, Argon2id as the profile sizes it, timed one
  at a time (median of five);

and OpenSSL's `speed ecdsap256 ed25519` signs/s (scripts/bench/armel-openssl.py fetches
it). The server is sized as a Pi Zero W (tests/fixtures/cpuinfo).
"""

import argparse
import asyncio
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from piauthproc import ROOT, Piauth, basic  # noqa: E402
from bench import lua_post, wrk  # noqa: E402
import importlib  # noqa: E402

armel = importlib.import_module("armel-openssl")
ZERO = os.path.join(ROOT, "tests", "fixtures", "cpuinfo", "pizerow-9000c1.cpuinfo")
ARMV6 = os.path.join(ROOT, "target", "arm-unknown-linux-musleabihf", "release", "piauth")


def qemu(cpu):
    return f"qemu-arm-static -cpu {cpu}"


def openssl_speed(cpu, seconds):
    root = os.path.dirname(os.path.dirname(os.path.dirname(armel.setup(armel.default_root()))))
    out = subprocess.run(
        ["taskset", "-c", "0", "qemu-arm-static", "-cpu", cpu, "-L", root,
         os.path.join(root, "usr", "bin", "openssl"), "speed", "-seconds", str(int(seconds)), "ecdsap256", "ed25519"],
        capture_output=True, text=True, check=True).stdout
    rates = {}
    for alg, pattern in [("ES256", r"ecdsa \(nistp256\)"), ("EdDSA", r"EdDSA \(Ed25519\)")]:
        m = re.search(pattern + r"\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
        if not m:
            sys.exit("openssl speed printed no figure for " + alg + ":\n" + out)
        rates[alg] = float(m.group(1))
    return rates


async def device(host, port, addr, auth, deadline):
    """One device: a token, retrying while the server says it is busy. Returns (tries, t)."""
    body = b"grant_type=client_credentials"
    req = (f"POST /token HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n"
           "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    tries = 0
    while time.monotonic() < deadline:
        tries += 1
        try:
            r, w = await asyncio.open_connection(host, port, local_addr=(addr, 0))
            w.write(req)
            await w.drain()
            data = await r.read()
            w.close()
        except OSError:
            await asyncio.sleep(0.1)
            continue
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
        if status == 200:
            return tries, time.monotonic()
        m = re.search(rb"(?i)\r\nretry-after: *(\d+)", data)
        await asyncio.sleep(min(int(m.group(1)), 5) if m else 0.1)
    raise RuntimeError(f"device {addr} got no token")


def burst(server, auth, devices):
    async def run():
        t0 = time.monotonic()
        addrs = [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(devices)]
        done = await asyncio.gather(*(device(server.host, server.port, a, auth, t0 + 600) for a in addrs))
        return t0, done
    t0, done = asyncio.run(run())
    times = sorted(t - t0 for _, t in done)
    return {"last_s": times[-1], "median_s": times[len(times) // 2],
            "retries": sum(n - 1 for n, _ in done)}


PASSWORD_GRANTS = 5


def measure(binary, cpu, alg, seconds, connections, devices, tmp):
    data = os.path.join(tempfile.mkdtemp(dir=tmp), alg)
    args = ["--algorithm", alg, "--cpuinfo", ZERO, "--require-synced-clock", "false"]
    s = Piauth(data, args, binary=binary, runner=f"taskset -c 0 {qemu(cpu)}", admin_runner=qemu(cpu), timeout=300)
    s.settled()
    try:
        auth = basic("dev", s.add_client("dev", grants=("client_credentials", "password")))
        out = {}
        if alg == "HS256":
            # A person's login: the Zero W profile's Argon2id, one at a time (HS256, so that
            # the hash is nearly all of it).
            s.add_user("alice", "correct horse")
            body = "grant_type=password&username=alice&password=correct+horse"
            took = []
            for _ in range(PASSWORD_GRANTS):
                t0 = time.monotonic()
                s.post("/token", body, auth)
                took.append(time.monotonic() - t0)
            out["password_ms"] = sorted(took)[len(took) // 2] * 1000
        if devices and alg == "ES256":
            # As after a power cut: the devices come back once the server is up and idle,
            # which is when its nonce pool (if it has one) has filled.
            out["pool"] = s.wait_log(r"es256: \d+ nonces ready", 20)
            out["burst"] = burst(s, auth, devices)
        script = lua_post("/token", "grant_type=client_credentials", auth)
        wrk(s.url, script, connections, 1, s.proc.pid)  # warm-up
        r = wrk(s.url, script, connections, seconds, s.proc.pid)
        if r["errors"]:
            sys.exit(f"{alg}: {r['errors']} errors under load")
        out.update(rps=r["rps"], p99_ms=r["p99_us"] / 1000)
        return out
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", help="binary to measure (repeatable; default: the ARMv6 build)")
    ap.add_argument("--cpu", default="arm1176", help="qemu's -cpu: arm1176 (Pi 1, Zero) or cortex-a7 (Pi 2)")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--devices", type=int, default=200, help="burst size (0: no burst)")
    ap.add_argument("--algorithms", default="ES256,EdDSA,HS256")
    ap.add_argument("--out", help="write the Markdown table here as well")
    args = ap.parse_args()
    bins = [os.path.abspath(b) for b in (args.bin or [ARMV6])]
    algs = args.algorithms.split(",")
    tmp = tempfile.TemporaryDirectory()
    ossl = openssl_speed(args.cpu, args.seconds)
    print(f"openssl (armel, qemu {args.cpu}): ECDSA P-256 {ossl['ES256']:,.0f} signs/s, "
          f"Ed25519 {ossl['EdDSA']:,.0f} signs/s", flush=True)
    rows = []
    for b in bins:
        for alg in algs:
            m = measure(b, args.cpu, alg, args.seconds, args.connections, args.devices, tmp.name)
            ratio = f"{m['rps'] / ossl[alg]:.2f}" if alg in ossl else "-"
            b_txt = (f"{m['burst']['last_s']:.2f} s (median {m['burst']['median_s']:.2f} s, "
                     f"{m['burst']['retries']} retries, "
                     f"{'nonce pool full' if m['pool'] else 'no nonce pool'})") if "burst" in m else "-"
            pw = f"{m['password_ms']:.0f} ms" if "password_ms" in m else "-"
            rows.append((os.path.relpath(b, ROOT), os.path.getsize(b), alg, m["rps"], m["p99_ms"], ratio, b_txt, pw))
            print(f"{rows[-1][0]} {alg}: {m['rps']:,.0f} tokens/s (p99 {m['p99_ms']:.1f} ms), "
                  f"x OpenSSL {ratio}, burst {b_txt}, password grant {pw}", flush=True)
    command = "scripts/bench/pi-speed.py " + " ".join(sys.argv[1:])
    lines = [f"- date: {datetime.date.today()}; `{command.strip()}`",
             f"- OpenSSL 3.0 armel under `qemu-arm-static -cpu {args.cpu}`, `taskset -c 0`: "
             f"ECDSA P-256 {ossl['ES256']:,.0f} signs/s, Ed25519 {ossl['EdDSA']:,.0f} signs/s",
             f"- piauth: server `taskset -c 0`, Pi Zero W profile, wrk on CPU 1, {args.connections} "
             f"keep-alive connections, {args.seconds:g} s after a 1 s warm-up; burst: {args.devices} devices; "
             f"password grant: median of {PASSWORD_GRANTS}, one at a time, Argon2id as the profile says", "",
             "| binary | bytes | algorithm | tokens/s | p99 | tokens/s ÷ OpenSSL signs/s | burst: first request to last token | password grant |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]:,} | {r[2]} | {r[3]:,.0f} | {r[4]:.1f} ms | {r[5]} | {r[6]} | {r[7]} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
