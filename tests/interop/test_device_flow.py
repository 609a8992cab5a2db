"""Interop: oauthlib's DeviceClient (RFC 8628) polls piauth while a person approves on a
phone (a requests session fills in the pages), then PyJWT verifies the token."""

import jwt
import pytest
import requests
from jwt import PyJWKClient
from oauthlib.oauth2 import DeviceClient
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from test_code_flow import Form

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def poll(s, client, device_code):
    body = client.prepare_request_body(device_code, include_client_id=True)
    r = requests.post(f"{s.issuer}/token", data=body, timeout=30,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    return client.parse_request_body_response(r.text)


def test_device_client_polls_until_a_person_approves(server_factory):
    s = server_factory("ES256")
    s.admin("client", "add", "tv", "--public", "--grant", GRANT, "--grant", "refresh_token",
            "--scope", "media", "--json")
    s.admin("user", "add", "alice", "--scope", "media", "--password-stdin", stdin="wonderland\n")
    meta = requests.get(f"{s.issuer}/.well-known/oauth-authorization-server", timeout=30).json()
    client = DeviceClient("tv", scope=["media"])
    start = requests.post(meta["device_authorization_endpoint"], timeout=30,
                          data={"client_id": "tv", "scope": "media"}).json()

    with pytest.raises(OAuth2Error) as pending:
        poll(s, client, start["device_code"])
    assert pending.value.error == "authorization_pending"

    phone = requests.Session()
    page = phone.get(start["verification_uri_complete"], timeout=30)
    page = phone.post(f"{s.issuer}/device", timeout=30,
                      data={**Form(page.text).fields, "username": "alice", "password": "wonderland"})
    assert start["user_code"] in page.text, page.text
    done = phone.post(f"{s.issuer}/device", timeout=30, data={**Form(page.text).fields, "decision": "allow"})
    assert "Device connected" in done.text

    token = poll(s, client, start["device_code"])
    assert token["scope"] == ["media"]
    assert "refresh_token" in token
    key = PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(token["access_token"]).key
    claims = jwt.decode(token["access_token"], key, algorithms=["ES256"], audience="tv", issuer=s.issuer)
    assert claims["sub"] == "alice"
