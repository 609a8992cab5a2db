#!/usr/bin/env python3
"""What the account pages and second factors cost: page sizes, a one-time code's check and
a passkey's sign-in, through the real binary.

    scripts/bench/account-cost.py [--bin FILE] [--runner CMD] [--runs N]

Starts piauth at http://localhost:PORT (a name, so that passkeys are offered), sets up one
person with one-time codes and another with a passkey, then prints the size of each page and
the median wall time of the requests that check a second factor: the code step of a sign-in
(the password before it is not timed), and a passkey sign-in (its options request, then the
response checked: ES256 signature, counter, one store write). The passkey is made by a small
software authenticator here (CBOR and P-256 through `cryptography`), the code by pyotp.
Under --runner (for example "taskset -c 1 qemu-arm -cpu arm1176" for a Pi 1's ARMv6) only
ratios mean much.
"""

import argparse
import base64
import hashlib
import html
import json
import os
import re
import socket
import statistics
import sys
import tempfile
import time

import pyotp
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from piauthproc import Piauth  # noqa: E402


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def head(major, n):
    m = major << 5
    if n < 24:
        return bytes([m | n])
    if n < 256:
        return bytes([m | 24, n])
    return bytes([m | 25]) + n.to_bytes(2, "big")


def cint(i):
    return head(0, i) if i >= 0 else head(1, -1 - i)


def cbytes(b):
    return head(2, len(b)) + b


def ctext(t):
    return head(3, len(t)) + t.encode()


class Authenticator:
    """One passkey: a P-256 key that signs what WebAuthn asks, with the person verified."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.id, self.count = os.urandom(16), 0

    def auth_data(self, rp_id, attested):
        flags = 0x01 | 0x04 | (0x40 if attested else 0)
        d = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + self.count.to_bytes(4, "big")
        if attested:
            n = self.key.public_key().public_numbers()
            cose = (head(5, 5) + cint(1) + cint(2) + cint(3) + cint(-7) + cint(-1) + cint(1)
                    + cint(-2) + cbytes(n.x.to_bytes(32, "big")) + cint(-3) + cbytes(n.y.to_bytes(32, "big")))
            d += bytes(16) + len(self.id).to_bytes(2, "big") + self.id + cose
        return d

    def create(self, options, origin, rp_id):
        o = options.get("publicKey", options)
        client = json.dumps({"type": "webauthn.create", "challenge": o["challenge"], "origin": origin,
                             "crossOrigin": False}).encode()
        att = (head(5, 3) + ctext("fmt") + ctext("none") + ctext("attStmt") + head(5, 0)
               + ctext("authData") + cbytes(self.auth_data(rp_id, True)))
        return json.dumps({"id": b64(self.id), "rawId": b64(self.id), "type": "public-key",
                           "response": {"clientDataJSON": b64(client), "attestationObject": b64(att),
                                        "transports": ["internal"]},
                           "clientExtensionResults": {}})

    def get(self, options, origin, rp_id, handle):
        o = options.get("publicKey", options)
        self.count += 1
        data = self.auth_data(rp_id, False)
        client = json.dumps({"type": "webauthn.get", "challenge": o["challenge"], "origin": origin,
                             "crossOrigin": False}).encode()
        sig = self.key.sign(data + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({"id": b64(self.id), "rawId": b64(self.id), "type": "public-key",
                           "response": {"clientDataJSON": b64(client), "authenticatorData": b64(data),
                                        "signature": b64(sig), "userHandle": handle},
                           "clientExtensionResults": {}})


def hidden(page, name):
    m = re.search(r'name="%s" value="([^"]*)"' % name, page)
    return html.unescape(m.group(1)) if m else ""


def signed_in(base, user, password):
    """A browser signed in on /account with a password: the session and the page after."""
    b = requests.Session()
    login = b.get(base + "/account", timeout=600).text
    after = b.post(base + "/account", timeout=600, data={
        "action": "login", "csrf": hidden(login, "csrf"), "username": user, "password": password}).text
    return b, after


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=None)
    ap.add_argument("--runner", default="")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://localhost:{port}"
    d = tempfile.TemporaryDirectory()
    srv = Piauth(os.path.join(d.name, "data"), [], binary=a.bin, runner=a.runner, admin_runner=a.runner,
                 timeout=600, listen=f"127.0.0.1:{port}", config=f'issuer = "{base}"\n')
    try:
        print(f"binary {a.bin or 'target/release/piauth'}; runner {a.runner or '(none)'}")
        srv.admin("user", "add", "tess", "--password-stdin", stdin="tess's password\n")
        srv.admin("user", "add", "pete", "--password-stdin", stdin="pete's password\n")

        # Page sizes, as served (no compression).
        sizes = {}
        b, account = signed_in(base, "tess", "tess's password")
        sizes["sign-in page (/account, signed out)"] = len(requests.get(base + "/account", timeout=600).content)
        sizes["account page"] = len(account.encode())
        setup = b.post(base + "/account", timeout=600,
                       data={"action": "totp_start", "csrf": hidden(account, "csrf")}).text
        sizes["one-time code set-up (QR code as SVG)"] = len(setup.encode())
        secret = hidden(setup, "secret")
        totp = pyotp.TOTP(secret)
        codes = b.post(base + "/account", timeout=600, data={
            "action": "enroll", "csrf": hidden(setup, "csrf"), "secret": secret, "code": totp.now()}).text
        sizes["recovery codes"] = len(codes.encode())
        sizes["/pages.css"] = len(requests.get(base + "/pages.css", timeout=600).content)
        sizes["/passkey.js"] = len(requests.get(base + "/passkey.js", timeout=600).content)
        _, step = signed_in(base, "tess", "tess's password")
        sizes["second step (code or passkey)"] = len(step.encode())
        print("page | bytes")
        for k, v in sizes.items():
            print(f"{k} | {v}")

        # A code's check: each run a new sign-in and the code of a newer step (each step's
        # code is spent once taken), so one run per 30 s.
        code_ms = []
        for i in range(a.runs):
            time.sleep(30 - time.time() % 30 + 0.5)
            b, step = signed_in(base, "tess", "tess's password")
            t0 = time.monotonic()
            r = b.post(base + "/account", timeout=600, data={
                "action": "second_factor", "csrf": hidden(step, "csrf"), "code": totp.now()})
            code_ms.append((time.monotonic() - t0) * 1000)
            assert "Your account" in r.text, r.text[:300]

        # A passkey: added once, then signed in with.
        key = Authenticator()
        b, account = signed_in(base, "pete", "pete's password")
        opts = b.post(base + "/passkey/options", timeout=600,
                      data={"csrf": hidden(account, "csrf"), "kind": "register"}).json()
        page = b.post(base + "/account", timeout=600, data={
            "action": "passkey_add", "csrf": hidden(account, "csrf"), "name": "bench",
            "credential": key.create(opts, base, "localhost")}).text
        assert "The passkey was added." in page, page[:300]
        handle = opts["user"]["id"]
        options_ms, check_ms = [], []
        for _ in range(a.runs):
            b = requests.Session()
            login = b.get(base + "/account", timeout=600).text
            t0 = time.monotonic()
            opts = b.post(base + "/passkey/options", timeout=600,
                          data={"csrf": hidden(login, "csrf"), "kind": "sign_in"}).json()
            t1 = time.monotonic()
            r = b.post(base + "/account", timeout=600, data={
                "action": "passkey", "csrf": hidden(login, "csrf"),
                "credential": key.get(opts, base, "localhost", handle)})
            t2 = time.monotonic()
            assert "Your account" in r.text, r.text[:300]
            options_ms.append((t1 - t0) * 1000)
            check_ms.append((t2 - t1) * 1000)
        med = statistics.median
        print(f"\nrequest | median ms of {a.runs}")
        print(f"one-time code checked (the second step) | {med(code_ms):.1f}")
        print(f"passkey sign-in: options | {med(options_ms):.1f}")
        print(f"passkey sign-in: response checked, person signed in | {med(check_ms):.1f}")
    finally:
        srv.stop()
        d.cleanup()


if __name__ == "__main__":
    main()
