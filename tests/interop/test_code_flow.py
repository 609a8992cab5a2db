"""Interop: the authorization code flow with PKCE as requests-oauthlib walks it, and an
OpenID Connect client (authlib) validating the ID token through discovery. A `requests`
session plays the browser: it fills in piauth's sign-in and consent forms."""

import json
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken
from requests_oauthlib import OAuth2Session

REDIRECT = "https://dash.home/cb"


class Form(HTMLParser):
    """The hidden inputs of a page's form."""

    def __init__(self, html):
        super().__init__()
        self.fields = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")


def sign_in_and_allow(server, url, user, password):
    """Opens `url` in a fresh browser, signs in, allows; returns the redirect's Location."""
    browser = requests.Session()
    page = browser.get(url, timeout=30)
    assert page.status_code == 200, page.text
    form = Form(page.text).fields
    page = browser.post(f"{server.issuer}/authorize", data={**form, "username": user, "password": password},
                        allow_redirects=False, timeout=30)
    assert page.status_code == 200, page.text
    form = Form(page.text).fields
    back = browser.post(f"{server.issuer}/authorize", data={**form, "decision": "allow"},
                        allow_redirects=False, timeout=30)
    assert back.status_code == 303, back.text
    return back.headers["Location"]


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA", "RS256"])
def test_requests_oauthlib_code_flow_with_pkce(server_factory, algorithm):
    s = server_factory(algorithm)
    out = s.admin("client", "add", "dash", "--grant", "authorization_code", "--grant", "refresh_token",
                  "--scope", "read", "--redirect-uri", REDIRECT, "--json")
    secret = json.loads(out)["client_secret"]
    s.admin("user", "add", "alice", "--scope", "read", "--password-stdin", stdin="wonderland\n")

    session = OAuth2Session("dash", redirect_uri=REDIRECT, scope=["read"], pkce="S256")
    url, state = session.authorization_url(f"{s.issuer}/authorize")
    location = sign_in_and_allow(s, url, "alice", "wonderland")
    assert location.startswith(REDIRECT)
    params = parse_qs(urlparse(location).query)
    assert params["state"] == [state]
    assert params["iss"] == [s.issuer]
    token = session.fetch_token(f"{s.issuer}/token", authorization_response=location, client_secret=secret)
    assert token["scope"] == ["read"]
    assert "refresh_token" in token
    # The same code again is refused (and what it issued is revoked).
    again = requests.post(f"{s.issuer}/token", auth=("dash", secret), timeout=30, data={
        "grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": REDIRECT,
        "code_verifier": session._code_verifier})
    assert again.json()["error"] == "invalid_grant"


def test_authlib_openid_connect_validates_the_id_token_through_discovery(server_factory):
    s = server_factory("ES256")
    s.admin("client", "add", "wiki", "--public", "--scope", "openid", "--scope", "profile",
            "--redirect-uri", REDIRECT, "--json")
    s.admin("user", "add", "alice", "--name", "Alice Liddell", "--password-stdin", stdin="wonderland\n")

    config = requests.get(f"{s.issuer}/.well-known/openid-configuration", timeout=30).json()
    client = AuthlibSession("wiki", redirect_uri=REDIRECT, scope="openid profile",
                            code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(config["authorization_endpoint"], code_verifier=verifier,
                                                 nonce=nonce)
    location = sign_in_and_allow(s, url, "alice", "wonderland")
    token = client.fetch_token(config["token_endpoint"], authorization_response=location,
                               code_verifier=verifier)
    keys = JsonWebKey.import_key_set(requests.get(config["jwks_uri"], timeout=30).json())
    claims = jwt.decode(token["id_token"], keys, claims_cls=CodeIDToken,
                        claims_options={"iss": {"value": config["issuer"]}, "aud": {"value": "wiki"}},
                        claims_params={"nonce": nonce, "client_id": "wiki",
                                       "access_token": token["access_token"]})
    claims.validate()  # iss, aud, exp, iat, nonce, at_hash, azp
    assert claims["sub"] == "alice"
    info = client.get(config["userinfo_endpoint"], timeout=30).json()
    assert info == {"sub": "alice", "preferred_username": "alice", "name": "Alice Liddell"}
