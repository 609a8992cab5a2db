#!/usr/bin/env python3
"""Smoke test of a piauth binary, possibly under an emulator:

    scripts/smoke.py [--runner "qemu-arm-static -cpu arm1176"] BINARY

Runs `piauth board` on a cpuinfo fixture, starts the server on loopback with a fresh data
directory, adds a client through the admin socket, gets a token and checks it: by
introspection, and (when PyJWT is importable) by verifying its signature against the JWKS.
Standard library otherwise; exits non-zero on any failure.
"""

import argparse
import base64
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "cpuinfo", "pizerow-9000c1.cpuinfo")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", default="")
    ap.add_argument("binary")
    args = ap.parse_args()
    cmd = shlex.split(args.runner) + [os.path.abspath(args.binary)]
    t0 = time.monotonic()

    board = json.loads(subprocess.run(cmd + ["board", "--json", "--cpuinfo", FIXTURE],
                                      capture_output=True, text=True, check=True).stdout)
    assert board["model"] == "Raspberry Pi Zero W", board
    assert board["memory_mb"] == 512, board

    tmp = tempfile.TemporaryDirectory()
    base = cmd + ["--data-dir", os.path.join(tmp.name, "data")]
    server = subprocess.Popen(base + ["serve", "--listen", "127.0.0.1:0", "--cpuinfo", FIXTURE],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    found = threading.Event()
    addr = []

    def drain():
        for line in server.stderr:
            m = re.search(r"listening on http://(\S+)", line)
            if m:
                addr.append(m.group(1))
                found.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not found.wait(300):
            sys.exit("server did not start")
        url = f"http://{addr[0]}"
        client = json.loads(subprocess.run(base + ["client", "add", "smoke", "--scope", "read", "--json"],
                                           capture_output=True, text=True, check=True).stdout)
        auth = "Basic " + base64.b64encode(f"smoke:{client['client_secret']}".encode()).decode()

        def post(path, body):
            req = urllib.request.Request(url + path, data=body.encode(), headers={"Authorization": auth})
            return json.loads(urllib.request.urlopen(req, timeout=120).read())

        token = post("/token", "grant_type=client_credentials")["access_token"]
        intro = post("/introspect", f"token={token}")
        assert intro["active"] is True and intro["client_id"] == "smoke", intro
        verified = "introspection"
        try:
            import jwt  # noqa: PLC0415 (optional)
            key = jwt.PyJWKClient(url + "/jwks.json").get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=["ES256"], audience="smoke", issuer=url)
            assert claims["scope"] == "read"
            verified += " and PyJWT signature check"
        except ImportError:
            pass
        print(f"smoke ok: {' '.join(shlex.split(args.runner)) or 'native'}: board {board['model']}, "
              f"token verified by {verified}, {time.monotonic() - t0:.1f} s")
    finally:
        server.terminate()
        server.wait(60)


if __name__ == "__main__":
    main()
