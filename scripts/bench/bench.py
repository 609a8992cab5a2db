#!/usr/bin/env python3
"""piauth benchmark (run through scripts/bench/bench.sh).

The server runs pinned to CPU 0 (taskset), with a fresh data directory per signing
algorithm. wrk runs pinned to CPU 1 over keep-alive connections. For each case and
concurrency it records requests/s, p50 and p99 latency, errors, and the server's CPU time per
request (from /proc/PID/stat). Per server it records idle RSS and peak RSS (VmHWM). It also
records start-up time to the first answered request (with an existing store) and the
stripped binary size. It writes a Markdown table and an SVG chart.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from piauthproc import Piauth, basic, RELEASE_BIN as BIN  # noqa: E402
CLK_TCK = os.sysconf("SC_CLK_TCK")

WRK_DONE = r'''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
'''


def lua_post(path, body, auth):
    return (f'wrk.method = "POST"\nwrk.path = "{path}"\nwrk.body = "{body}"\n'
            'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
            f'wrk.headers["Authorization"] = "{auth}"\n' + WRK_DONE)


def lua_refresh(auth, tokens):
    # A queue of unused refresh tokens: each request takes one, each response gives the new
    # one back, so every request is a real rotation and no token is presented twice. wrk
    # calls request() once more than it sends (to check the script), so the caller loads a
    # few spare tokens; without them one connection starves and fails every request.
    toks = ",".join(f'"{t}"' for t in tokens)
    return (f'local queue = {{{toks}}}\n'
            'request = function()\n'
            '  local t = table.remove(queue, 1) or "exhausted"\n'
            '  return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded",\n'
            f'    ["Authorization"] = "{auth}"}}, "grant_type=refresh_token&refresh_token=" .. t)\n'
            'end\n'
            'response = function(status, headers, body)\n'
            '  local t = string.match(body, \'"refresh_token":"([^"]+)"\')\n'
            '  if t then table.insert(queue, t) end\n'
            'end\n' + WRK_DONE)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def server(algorithm, data, config=None):
    s = Piauth(data, ["--algorithm", algorithm], config=config, binary=ARGS.bin, runner="taskset -c 0")
    s.settled()
    s.idle_kib = s.kib("VmRSS")
    return s


def wrk(url, script, connections, seconds, pid):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    cpu0 = cpu_seconds(pid)
    # A 30 s timeout: password checks queue behind Argon2 and must not count as failures.
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s",
                          "-s", f.name, url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu0
    os.unlink(f.name)
    m = re.search(r"RESULT (\{.*\})", out)
    if not m:
        sys.exit("wrk printed no result:\n" + out)
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["cpu_us_per_req"] = cpu * 1e6 / max(r["requests"], 1)
    return r


def svg_chart(rows, path):
    """Horizontal bars: requests/s of each case at 16 connections (log scale)."""
    import math
    data = [(f"{r['case']}", r["rps"]) for r in rows if r["connections"] == 16]
    width, bar, gap, left = 760, 22, 8, 230
    height = 50 + len(data) * (bar + gap)
    top = max(v for _, v in data)
    scale = lambda v: (width - left - 90) * math.log10(max(v, 1)) / math.log10(max(top, 10))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">',
           f'<text x="10" y="22" font-size="15" font-weight="bold">piauth requests/s at 16 connections, server on one core (log scale)</text>']
    for i, (name, v) in enumerate(data):
        y = 40 + i * (bar + gap)
        out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{name}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{scale(v):.1f}" height="{bar}" fill="#3b7dd8"/>')
        out.append(f'<text x="{left + scale(v) + 6:.1f}" y="{y + 16}">{v:,.0f}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1 s per case, 16 connections (CI)")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "results"))
    ap.add_argument("--bin", default=BIN, help="the binary to measure (default: the release build), "
                    "e.g. an older build, to compare side by side")
    args = ap.parse_args()
    global ARGS
    ARGS = args
    seconds = 1 if args.quick else args.seconds
    levels = [16] if args.quick else [1, 16, 64]
    os.makedirs(args.out, exist_ok=True)
    rows, servers = [], []
    tmp = tempfile.TemporaryDirectory()

    for alg in ["ES256", "EdDSA", "RS256", "HS256"]:
        s = server(alg, os.path.join(tmp.name, alg))
        auth = basic("bench", s.add_client("bench", ["client_credentials", "password", "refresh_token"]))
        cases = [(f"client_credentials {alg}", lambda c: lua_post("/token", "grant_type=client_credentials", auth))]
        if alg == "ES256":
            s.add_user("bench", "bench-password")
            token = s.post("/token", "grant_type=client_credentials", auth)["access_token"]
            cases += [
                ("password ES256", lambda c: lua_post("/token", "grant_type=password&username=bench&password=bench-password", auth)),
                ("refresh_token ES256", lambda c: lua_refresh(auth, [
                    s.post("/token", "grant_type=password&username=bench&password=bench-password", auth)["refresh_token"]
                    for _ in range(c + 4)])),
                ("introspect ES256", lambda c: lua_post("/introspect", f"token={token}", auth)),
                ("introspect ES256, cache off", None),
                ("GET /jwks.json", lambda c: WRK_DONE.replace("done = ", 'wrk.path = "/jwks.json"\ndone = ')),
            ]
        for name, script in cases:
            target = s
            if script is None:
                # The same request to a server that verifies the signature every time: what
                # a token costs the first time a resource server presents it.
                target = server(alg, os.path.join(tmp.name, alg + "-nocache"), "token_cache_entries = 0\n")
                nc_auth = basic("bench", target.add_client("bench"))
                nc_token = target.post("/token", "grant_type=client_credentials", nc_auth)["access_token"]
                script = lambda c, t=nc_token, a=nc_auth: lua_post("/introspect", f"token={t}", a)
            for c in levels:
                r = wrk(target.url, script(c), c, seconds, target.proc.pid)
                r.update(case=name, connections=c)
                rows.append(r)
                print(f"{name:28} c={c:3} {r['rps']:9.0f} req/s  p50 {r['p50_us'] / 1000:7.2f} ms  "
                      f"p99 {r['p99_us'] / 1000:7.2f} ms  errors {r['errors']}  cpu {r['cpu_us_per_req']:.0f} us/req",
                      flush=True)
            if target is not s:
                target.stop()
        peak = s.stop()
        servers.append({"alg": alg, "idle_kib": s.idle_kib, "peak_kib": peak, "startup_ms": s.startup_ms})

    # Start-up with an existing store (the ES256 one, which holds a client, a user and tokens).
    restart = server("ES256", os.path.join(tmp.name, "ES256"))
    startup_existing = restart.startup_ms
    restart.stop()
    size = os.path.getsize(args.bin)

    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    command = "scripts/bench/bench.sh" + (" --quick" if args.quick else "")
    lines = [f"# piauth benchmark", "",
             f"- date: {datetime.date.today()}", f"- machine: {model}; {machine}",
             f"- command: `{command}` (server `taskset -c 0`, wrk `taskset -c 1 wrk -t1 -cN -d{seconds:g}s --timeout 30s`)",
             f"- binary: {size:,} bytes stripped; start-up to first answered request with an existing store: "
             f"{startup_existing:.0f} ms", "",
             "| case | connections | requests/s | p50 | p99 | errors | server CPU per request |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['connections']} | {r['rps']:,.0f} | {r['p50_us'] / 1000:.2f} ms | "
                     f"{r['p99_us'] / 1000:.2f} ms | {r['errors']} | {r['cpu_us_per_req']:.0f} µs |")
    lines += ["", "| server (fresh store) | start-up | idle RSS | peak RSS (VmHWM) |", "|---|---|---|---|"]
    for v in servers:
        lines.append(f"| {v['alg']} | {v['startup_ms']:.0f} ms | {v['idle_kib'] / 1024:.1f} MiB | {v['peak_kib'] / 1024:.1f} MiB |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    svg_chart(rows, os.path.join(args.out, "chart.svg"))
    print(text)
    if any(r["errors"] for r in rows):
        sys.exit("errors during the benchmark")


if __name__ == "__main__":
    main()
