#!/usr/bin/env python3
"""Smoke test of a piauth binary, possibly under an emulator:

    scripts/build/smoke.py [--runner "qemu-arm-static -cpu arm1176"] BINARY

Runs `piauth board` on a cpuinfo fixture, starts the server on loopback with a fresh data
directory, adds a client through the admin socket, gets a token and checks it: by
introspection, and (when PyJWT is importable) by verifying its signature against the JWKS.
Standard library otherwise; exits non-zero on any failure.
"""

import argparse
import base64
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from piauthproc import Piauth, basic, elf_bits  # noqa: E402
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "cpuinfo", "pizerow-9000c1.cpuinfo")


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
    # Under emulation everything is slow: generous timeouts. Sized as a Pi, the server would
    # wait for NTP before minting; the build machine's clock may report unsynchronised.
    server = Piauth(os.path.join(tmp.name, "data"), ["--cpuinfo", FIXTURE, "--require-synced-clock", "false"],
                    binary=args.binary, runner=args.runner, admin_runner=args.runner, timeout=300)
    try:
        url = server.url
        auth = basic("smoke", server.add_client("smoke"))

        def post(path, body):
            return server.post(path, body, auth)

        token = post("/token", "grant_type=client_credentials")["access_token"]
        intro = post("/introspect", f"token={token}")
        assert intro["active"] is True and intro["client_id"] == "smoke", intro
        verified = "introspection"
        pool = ""
        if elf_bits(args.binary) == 32:
            # RustCrypto P-256 with nonces made ahead of time (src/jose/es256.rs): the pool fills
            # once the server is idle, and the next tokens are signed from it.
            line = server.wait_log(r"es256: \d+ nonces ready", 300)
            assert line, "the 32-bit build keeps no ES256 nonces:\n" + "".join(server.log)
            pool = ", " + line.split("es256: ", 1)[1].strip()
        tokens = [token] + [post("/token", "grant_type=client_credentials")["access_token"] for _ in range(20)]
        rs = {base64.urlsafe_b64decode(t.split(".")[2] + "==")[:32] for t in tokens}
        assert len(rs) == len(tokens), "two signatures share a nonce"
        try:
            import jwt  # noqa: PLC0415 (optional)
            key = jwt.PyJWKClient(url + "/jwks.json").get_signing_key_from_jwt(token).key
            for t in tokens:
                claims = jwt.decode(t, key, algorithms=["ES256"], audience="smoke", issuer=url)
                assert claims["scope"] == "read"
            verified += f" and PyJWT signature check of {len(tokens)} tokens"
        except ImportError:
            pass
    finally:
        server.stop()
    if pool:
        pool += ", " + rotated_to_es256(args, os.path.join(tmp.name, "rotated"))
    print(f"smoke ok: {' '.join(shlex.split(args.runner)) or 'native'}: board {board['model']}, "
          f"token verified by {verified}{pool}, {time.monotonic() - t0:.1f} s")


def rotated_to_es256(args, data):
    """A store that signed EdDSA, served again with ES256: the pool fills while the staged
    ES256 key waits to sign, not from the restart after it."""
    serve = ["--cpuinfo", FIXTURE, "--require-synced-clock", "false"]
    first = Piauth(data, serve + ["--algorithm", "EdDSA"], binary=args.binary, runner=args.runner, timeout=300)
    first.stop()
    assert not any("nonces ready" in line for line in first.log), "".join(first.log)
    again = Piauth(data, serve, binary=args.binary, runner=args.runner, timeout=300)
    try:
        assert any("signing algorithm changed from EdDSA to ES256" in line for line in again.log), \
            "".join(again.log)
        assert again.wait_log(r"es256: \d+ nonces ready", 300), \
            "no ES256 nonces for a staged ES256 key:\n" + "".join(again.log)
        assert any("signing with EdDSA key" in line for line in again.log), "".join(again.log)
    finally:
        again.stop()
    return "and filled for a staged ES256 key"


if __name__ == "__main__":
    main()
