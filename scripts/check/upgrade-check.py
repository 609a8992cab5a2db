#!/usr/bin/env python3
"""Upgrade check: a store written by an older piauth keeps working under this one.

    scripts/check/upgrade-check.py --old OLD_BINARY [--new NEW_BINARY]

Runs the old binary on a fresh data directory: a client, a user, two password grants
(families A and B), one rotation of A (so A has a used token and a newest one), and a
revocation of B. Stops it, starts the new binary on the same directory, and checks through
HTTP that:
- A's newest token (issued by the old binary) still refreshes, and the new token it gets
  refreshes in turn;
- A's used token is refused; B's token is refused;
- clients, users and the signing key are unchanged, and old access tokens still introspect.
Exits non-zero on the first failure. Standard library only.

An old binary: `git worktree add /tmp/old <commit> && cargo build --release` there.
"""

import argparse
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from piauthproc import RELEASE_BIN, Piauth, basic  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", default=RELEASE_BIN)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    data = os.path.join(tmp.name, "data")

    # A fixed issuer: by default it follows the listen address, whose port changes here.
    issuer = ["--issuer", "http://piauth.test"]
    old = Piauth(data, binary=args.old, serve_args=issuer)
    auth = basic("app", old.add_client("app", ["password", "refresh_token"], ["read"]))
    old.add_user("ann", "pw-ann")
    login = "grant_type=password&username=ann&password=pw-ann"
    a1 = old.post("/token", login, auth)
    b1 = old.post("/token", login, auth)
    a2 = old.post("/token", f"grant_type=refresh_token&refresh_token={a1['refresh_token']}", auth)
    old.post("/revoke", f"token={b1['refresh_token']}", auth)
    before = json.loads(urllib.request.urlopen(old.url + "/health").read())
    old.stop()

    new = Piauth(data, binary=args.new, serve_args=issuer)
    failures = []

    def check(what, ok):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    def refresh(token):
        try:
            return 200, new.post("/token", f"grant_type=refresh_token&refresh_token={token}", auth)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    after = json.loads(urllib.request.urlopen(new.url + "/health").read())
    check("the signing key is the same", after["key"] == before["key"])
    check("the old access token still introspects",
          new.post("/introspect", f"token={a2['access_token']}", auth).get("active") is True)
    check("the old newest refresh token introspects as active",
          new.post("/introspect", f"token={a2['refresh_token']}", auth).get("active") is True)
    status, a3 = refresh(a2["refresh_token"])
    check("the old newest refresh token refreshes", status == 200 and "refresh_token" in a3)
    if status == 200:
        status, a4 = refresh(a3["refresh_token"])
        check("the token it gave refreshes in turn", status == 200)
        check("a new-form token is 64 characters", len(a3["refresh_token"]) == 64)
    status, body = refresh(a1["refresh_token"])
    check("the used old token is refused", status == 400 and body.get("error") == "invalid_grant")
    status, body = refresh(b1["refresh_token"])
    check("the revoked family's token is refused", status == 400 and body.get("error") == "invalid_grant")
    check("the user still logs in", "access_token" in new.post("/token", login, auth))
    check("the move was logged", any("store: moved to layout" in line for line in new.log))
    new.stop()
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("upgrade check passed")


if __name__ == "__main__":
    main()
