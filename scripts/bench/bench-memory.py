#!/usr/bin/env python3
"""Memory benchmark: RSS of `piauth serve` idle and under load, with a chosen board profile.

Starts the release binary with a fresh data directory (sized as the board whose cpuinfo and
meminfo are given), registers a client and a user through the admin commands, then drives
mixed traffic over N keep-alive connections for a fixed time: client_credentials, the password
grant, refresh rotations and introspection. RSS is sampled from /proc/PID/status; the peak is
the kernel's VmHWM. Prints a Markdown table. Standard library only.
"""

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from piauthproc import Piauth, basic, status_kib  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/piauth"))
    ap.add_argument("--cpuinfo", default=os.path.join(ROOT, "tests/fixtures/cpuinfo/pi1b-0002.cpuinfo"))
    ap.add_argument("--meminfo", default=os.path.join(ROOT, "tests/fixtures/meminfo-pi1b-256mb.txt"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--algorithm", default="ES256")
    ap.add_argument("--tls", action="store_true",
                    help="over HTTPS, with the certificate the server makes (each connection one handshake)")
    ap.add_argument("--mix", default="client_credentials,password,refresh_token,introspect",
                    help="request kinds to drive, comma-separated")
    ap.add_argument("--password-every", type=int, default=50, metavar="N",
                    help="with password in the mix, every Nth request of a connection is a login, "
                         "which starts a new refresh family (2 fills the family cap fast)")
    ap.add_argument("--report-every", type=float, default=0, metavar="SECONDS",
                    help="also print RSS, peak and the families kept every SECONDS during the run")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    server = Piauth(os.path.join(tmp.name, "data"), binary=args.bin,
                    # Sized as a Pi, which would wait for NTP; the machine measuring may lack it.
                    serve_args=["--algorithm", args.algorithm, "--cpuinfo", args.cpuinfo, "--meminfo", args.meminfo,
                                "--require-synced-clock", "false", "--tls", "on" if args.tls else "off"])
    proc, host, port, tuning = server.proc, server.host, server.port, server.tuning
    auth = basic("bench", server.add_client("bench", ["client_credentials", "password", "refresh_token"]))
    server.add_user("bench", "bench-password")
    time.sleep(1)
    idle_kib = status_kib(proc.pid, "VmRSS")

    counts = {"client_credentials": 0, "password": 0, "refresh_token": 0, "introspect": 0, "errors": 0}
    lock = threading.Lock()
    stop = time.monotonic() + args.seconds
    samples = []
    error_kinds = []  # the first few failures, described

    def post(conn, path, form):
        body = "&".join(f"{k}={v}" for k, v in form.items())
        conn.request("POST", path, body, {"Authorization": auth,
                                          "Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else {})

    mix = set(args.mix.split(","))

    # Each connection comes from its own loopback address, as each device on a LAN has its
    # own: the server caps the connections one address may hold.
    def connect(i):
        source = (f"127.0.{1 + i // 250}.{1 + i % 250}", 0)
        if server.ssl:
            return http.client.HTTPSConnection(host, port, timeout=60, source_address=source,
                                               context=server.ssl)
        return http.client.HTTPConnection(host, port, timeout=60, source_address=source)

    def worker(i):
        conn = connect(i)
        refresh = None
        access = None
        n = 0
        while time.monotonic() < stop:
            n += 1
            try:
                need_login = ("refresh_token" in mix or "introspect" in mix) and (refresh is None or access is None)
                if need_login or ("password" in mix and n % args.password_every == 0):
                    kind, form = "password", {"grant_type": "password", "username": "bench", "password": "bench-password"}
                elif "refresh_token" in mix and n % 3 == 0:
                    kind, form = "refresh_token", {"grant_type": "refresh_token", "refresh_token": refresh}
                elif "introspect" in mix and n % 3 == 1:
                    kind, form = "introspect", {"token": access}
                else:
                    kind, form = "client_credentials", {"grant_type": "client_credentials"}
                status, body = post(conn, "/introspect" if kind == "introspect" else "/token", form)
                ok = status == 200 and (kind != "introspect" or body.get("active"))
                if ok and kind != "introspect":
                    access = body["access_token"]
                    refresh = body.get("refresh_token", refresh)
                with lock:
                    counts[kind if ok else "errors"] += 1
                    if not ok and len(error_kinds) < 10:
                        error_kinds.append(f"{kind}: {status} {body.get('error', '')} {body.get('error_description', '')}")
            except Exception as e:
                with lock:
                    counts["errors"] += 1
                    if len(error_kinds) < 10:
                        error_kinds.append(f"{kind}: {e!r}")
                conn = connect(i)

    def sampler():
        started = time.monotonic()
        next_report = started + args.report_every
        while time.monotonic() < stop:
            samples.append(status_kib(proc.pid, "VmRSS"))
            if args.report_every and time.monotonic() >= next_report:
                next_report += args.report_every
                conn = connect(0)
                conn.request("GET", "/health")
                families = json.loads(conn.getresponse().read())["store"]["refresh_families"]
                with lock:
                    done = sum(v for k, v in counts.items() if k != "errors")
                print(f"{time.monotonic() - started:5.0f} s: {done} requests, {families} families, "
                      f"RSS {samples[-1] / 1024:.1f} MiB, peak {status_kib(proc.pid, 'VmHWM') / 1024:.1f} MiB",
                      flush=True)
            time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.connections)]
    threads.append(threading.Thread(target=sampler))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if proc.poll() is not None:
        sys.exit(f"piauth exited during the run (status {proc.returncode}); its last log lines:\n"
                 + "".join(server.log[-20:]))
    peak_kib = status_kib(proc.pid, "VmHWM")
    after_kib = status_kib(proc.pid, "VmRSS")
    server.stop()

    total = sum(v for k, v in counts.items() if k != "errors")
    print(f"| board profile | connections | seconds | requests | errors | idle RSS | peak RSS (VmHWM) | RSS after |")
    print(f"|---|---|---|---|---|---|---|---|")
    print(f"| {os.path.basename(args.cpuinfo)} | {args.connections} | {args.seconds:g} | {total} "
          f"| {counts['errors']} | {idle_kib / 1024:.1f} MiB | {peak_kib / 1024:.1f} MiB | {after_kib / 1024:.1f} MiB |")
    print()
    print("requests by kind:", json.dumps(counts))
    print("tuning applied:", json.dumps(tuning, sort_keys=True))
    for e in error_kinds:
        print("error:", e)
    if counts["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
