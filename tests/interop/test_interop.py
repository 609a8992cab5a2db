"""Interop: requests-oauthlib gets and refreshes tokens, PyJWT verifies them via the JWKS."""

import base64
import os

import jwt
import pytest
import requests
from jwt import PyJWKClient
from oauthlib.oauth2 import BackendApplicationClient, LegacyApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

# piauth serves HTTPS, so oauthlib needs no OAUTHLIB_INSECURE_TRANSPORT.
assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ

ALGORITHMS = ["ES256", "EdDSA", "RS256", "PS256", "HS256"]


def verify(server, token, algorithm, audience):
    """Verifies a token as a resource server would."""
    meta = requests.get(f"{server.issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    assert meta["issuer"] == server.issuer
    if algorithm == "HS256":
        # A shared secret is never published: the JWKS is empty and the secret is exported.
        assert requests.get(meta["jwks_uri"], timeout=10).json() == {"keys": []}
        secret = server.admin("key", "secret").strip()
        key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    else:
        key = PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(token).key
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == algorithm
    return jwt.decode(
        token, key, algorithms=[algorithm], audience=audience, issuer=server.issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "sub", "aud", "jti"]},
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_backend_application_client(server_factory, algorithm):
    s = server_factory(algorithm)
    secret = s.add_client("sensor", ["client_credentials"], ["telemetry"])
    session = OAuth2Session(client=BackendApplicationClient(client_id="sensor"))
    token = session.fetch_token(f"{s.issuer}/token", client_id="sensor", client_secret=secret)
    assert token["token_type"] == "Bearer"
    assert token["scope"] == ["telemetry"]
    assert "refresh_token" not in token
    claims = verify(s, token["access_token"], algorithm, "sensor")
    assert claims["sub"] == "sensor"
    assert claims["client_id"] == "sensor"
    assert claims["scope"] == "telemetry"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_legacy_application_client_gets_and_refreshes(server_factory, algorithm):
    s = server_factory(algorithm)
    secret = s.add_client("app", ["password", "refresh_token"], ["read", "write"])
    s.admin("user", "add", "alice", "--scope", "read", "--password-stdin", stdin="wonderland\n")
    session = OAuth2Session(client=LegacyApplicationClient(client_id="app"))
    token = session.fetch_token(
        f"{s.issuer}/token", username="alice", password="wonderland",
        client_id="app", client_secret=secret,
    )
    assert token["scope"] == ["read"]
    claims = verify(s, token["access_token"], algorithm, "app")
    assert claims["sub"] == "alice"

    first_refresh = token["refresh_token"]
    refreshed = session.refresh_token(f"{s.issuer}/token", auth=HTTPBasicAuth("app", secret))
    assert refreshed["refresh_token"] != first_refresh
    assert verify(s, refreshed["access_token"], algorithm, "app")["sub"] == "alice"

    def refresh(token):
        return requests.post(
            f"{s.issuer}/token", auth=("app", secret),
            data={"grant_type": "refresh_token", "refresh_token": token}, timeout=10,
        )

    # Had that answer been lost, the first token again, at once, gets the same new one.
    retry = refresh(first_refresh)
    assert retry.status_code == 200 and retry.json()["refresh_token"] == refreshed["refresh_token"]
    # Once the new one is used, replaying the first is refused and kills the family.
    newer = refresh(refreshed["refresh_token"])
    assert newer.status_code == 200
    replay = refresh(first_refresh)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert refresh(newer.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_pyjwt_rejects_a_tampered_token(server_factory):
    s = server_factory("ES256")
    secret = s.add_client("c", ["client_credentials"], ["read"])
    session = OAuth2Session(client=BackendApplicationClient(client_id="c"))
    token = session.fetch_token(f"{s.issuer}/token", client_id="c", client_secret=secret)["access_token"]
    head, body, sig = token.split(".")
    payload = jwt.api_jws.base64url_decode(body).replace(b'"read"', b'"admin"')
    forged = ".".join([head, jwt.api_jws.base64url_encode(payload).decode(), sig])
    with pytest.raises(jwt.InvalidSignatureError):
        verify(s, forged, "ES256", "c")
    introspected = requests.post(f"{s.issuer}/introspect", auth=("c", secret), data={"token": forged}, timeout=10)
    assert introspected.json() == {"active": False}
