"""Node apps built on openid-client from npm, at its defaults: 5.7 (CommonJS, still inside
many apps) and 6.9 (ESM), each as node/rp.mjs uses it.

Each is given only what its documentation says to set: the issuer, the client's id and
secret, the redirect URI, and trust of piauth's certificate (NODE_EXTRA_CA_CERTS, the PEM
from GET /certificate). Both expect RS256 ID tokens when the client registered no alg,
so these tests are what issue 20's "ES256 only" broke: discovery, the code exchange, the
ID token's validation (signature by the JWKS, iss, aud, nonce or PKCE), and /userinfo.
"""

import functools
import html
import os
import re
import shutil
import subprocess

import pytest

from conftest import PASSWORD, App, Browser, add_app, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")
NODE = shutil.which("node") or "/usr/bin/node"

pytestmark = pytest.mark.skipif(
    not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "openid-client-6")),
    reason="needs node and `npm ci` in tests/apps/node")


@functools.cache
def node_major():
    out = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True).stdout
    return int(out.strip().lstrip("v").split(".")[0])


class NodeApp:
    def __init__(self, piauth, version, client_id, *extra):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        secret = add_app(piauth, client_id, f"{self.url}/cb", *extra)
        env = {"PIAUTH_ISSUER": piauth.issuer, "CLIENT_ID": client_id, "CLIENT_SECRET": secret,
               "PORT": str(self.port), "NODE_EXTRA_CA_CERTS": piauth.cert}
        args = [NODE]
        # Debian 12's Node 18 keeps Web Crypto, which openid-client 6 (jose 6) signs and
        # verifies with, behind a flag; Node 20 and later have it on.
        if node_major() < 20:
            args.append("--experimental-global-webcrypto")
        self.app = App(args + ["rp.mjs", version], self.port, cwd=NODE_DIR, env=env)

    def stop(self):
        self.app.stop()


@pytest.fixture
def node_app(piauth):
    started = []

    def start(version, client_id, *extra):
        started.append(NodeApp(piauth, version, client_id, *extra))
        return started[-1]

    yield start
    for a in started:
        a.stop()


@pytest.mark.parametrize("version", ["5", "6"])
def test_a_person_signs_in_with_an_rs256_id_token_and_the_claims_apps_rely_on(piauth, node_app, version):
    app = node_app(version, f"node-openid-client-{version}")
    browser = Browser(piauth.issuer, piauth.cert)
    resp = browser.open(f"{app.url}/login", user="alice")
    assert resp.url.startswith(f"{app.url}/cb?"), resp.url
    assert resp.status_code == 200, resp.text + app.app.output()
    got = resp.json()
    sent = browser.authorize_query()
    if version == "5":
        # 5's defaults: a nonce, no PKCE; piauth takes the nonce as OIDC's defence.
        assert "nonce" in sent and "code_challenge" not in sent, sent
        assert got["claims"]["nonce"] == sent["nonce"][0]
    else:
        assert sent["code_challenge_method"] == ["S256"] and "nonce" not in sent, sent
    # The library accepted the signature with its default, RS256, by piauth's JWKS.
    assert got["header"]["alg"] == "RS256" and got["header"]["kid"], got["header"]
    claims = got["claims"]
    assert claims["iss"] == piauth.issuer and claims["aud"] == f"node-openid-client-{version}"
    assert claims["email"] == "alice@home.lan" and claims["email_verified"] is True, claims
    assert claims["name"] == "Alice Liddell" and claims["groups"] == ["family"], claims
    info = got["userinfo"]
    assert info["sub"] == claims["sub"], info
    assert (info["email"], info["email_verified"], info["groups"]) == ("alice@home.lan", True, ["family"])


@pytest.mark.parametrize("version", ["5", "6"])
def test_an_app_for_one_group_never_gets_a_token_for_someone_outside_it(piauth, node_app, version):
    client_id = f"node-family-{version}"
    app = node_app(version, client_id, "--allowed-group", "family")
    alice = Browser(piauth.issuer, piauth.cert).open(f"{app.url}/login", user="alice")
    assert alice.status_code == 200 and alice.json()["claims"]["groups"] == ["family"], alice.text

    bob = Browser(piauth.issuer, piauth.cert)
    page = bob.open(f"{app.url}/login", user="bob")
    assert page.url.startswith(piauth.issuer) and page.status_code == 403, page.text
    assert f"bob is not in a group that may use {client_id}" in page.text
    # Following the page's way back, the library sees access_denied, never a code.
    links = [html.unescape(a) for a in re.findall(r'<a href="([^"]*)"', page.text)]
    assert len(links) == 1 and links[0].startswith(f"{app.url}/cb?"), page.text
    at_app = bob.session.get(links[0], timeout=30)
    assert at_app.status_code == 502, at_app.text
    assert at_app.json()["error"] == "access_denied", at_app.text


def oauth2_proxy_admits(claims, allowed_groups):
    """oauth2-proxy's check of an OIDC login: the email must be verified (unless started with
    --insecure-oidc-allow-unverified-email), and with allowed_groups the `groups` claim must
    name one of them."""
    if claims.get("email_verified") is not True:
        return False
    return not allowed_groups or bool(set(claims.get("groups") or []) & set(allowed_groups))


def test_the_claims_pass_oauth2_proxys_check_only_for_a_verified_member(piauth, node_app):
    piauth.admin("user", "add", "carol", "--name", "Carol", "--email", "carol@home.lan",
                 "--email-unverified", "--group", "family", "--password-stdin",
                 stdin=PASSWORD + "\n")
    app = node_app("6", "oauth2-proxy-check")
    seen = {}
    for who in ["alice", "bob", "carol"]:
        resp = Browser(piauth.issuer, piauth.cert).open(f"{app.url}/login", user=who)
        assert resp.status_code == 200, resp.text
        seen[who] = resp.json()["claims"]
    assert seen["carol"]["email_verified"] is False, seen["carol"]
    assert [w for w in seen if oauth2_proxy_admits(seen[w], ["family"])] == ["alice"], seen
    # Without allowed_groups, everyone with a verified address.
    assert [w for w in seen if oauth2_proxy_admits(seen[w], [])] == ["alice", "bob"], seen
