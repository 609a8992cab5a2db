"""Interop: devices that hold a key and no secret (private_key_jwt, RFC 7523 §2.2), with
assertions made by PyJWT and keys by `cryptography`, for each algorithm piauth accepts."""

import json
import os
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

KEYS = {
    "ES256": (lambda: ec.generate_private_key(ec.SECP256R1()), jwt.algorithms.ECAlgorithm),
    "EdDSA": (ed25519.Ed25519PrivateKey.generate, jwt.algorithms.OKPAlgorithm),
    "RS256": (lambda: rsa.generate_private_key(65537, 2048), jwt.algorithms.RSAAlgorithm),
    "PS256": (lambda: rsa.generate_private_key(65537, 2048), jwt.algorithms.RSAAlgorithm),
}


def register(server, client_id, algorithm):
    """A device's key pair; its public JWK registered with `client add --jwk`."""
    make, alg_class = KEYS[algorithm]
    private = make()
    public = json.loads(alg_class.to_jwk(private.public_key()))
    public["alg"] = algorithm
    path = os.path.join(server.dir.name, f"{client_id}.jwk")
    with open(path, "w") as f:
        json.dump(public, f)
    shown = json.loads(server.admin("client", "add", client_id, "--scope", "telemetry", "--jwk", path, "--json"))
    assert shown["auth"] == "private_key_jwt" and "client_secret" not in shown
    return private


def token(server, client_id, private, algorithm, **overrides):
    """What a device does: sign a short assertion, exchange it for a token."""
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": f"{server.issuer}/token",
              "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    claims.update(overrides)
    assertion = jwt.encode(claims, private, algorithm=algorithm)
    return requests.post(f"{server.issuer}/token", timeout=10, data={
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }), assertion


@pytest.mark.parametrize("algorithm", list(KEYS))
def test_a_device_with_a_key_gets_a_token_and_the_rules_hold(server_factory, algorithm):
    s = server_factory("ES256")
    device = register(s, "sensor", algorithm)
    r, assertion = token(s, "sensor", device, algorithm)
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "sensor" and claims["client_id"] == "sensor"

    # The same assertion again, an expired one, a wrong audience, and a key piauth does not know.
    replay = requests.post(f"{s.issuer}/token", timeout=10, data={
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion})
    now = int(time.time())
    expired, _ = token(s, "sensor", device, algorithm, iat=now - 600, exp=now - 300)
    wrong_aud, _ = token(s, "sensor", device, algorithm, aud="https://elsewhere/token")
    stranger, _ = token(s, "sensor", KEYS[algorithm][0](), algorithm)
    for what, refused in [("replay", replay), ("expired", expired), ("aud", wrong_aud), ("key", stranger)]:
        assert refused.status_code == 401, (what, refused.text)
        assert refused.json()["error"] == "invalid_client", what


JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.mark.parametrize("algorithm", list(KEYS))
def test_a_trusted_issuers_assertion_is_exchanged_for_a_token(server_factory, algorithm):
    s = server_factory("ES256")
    make, alg_class = KEYS[algorithm]
    hub = make()
    public = json.loads(alg_class.to_jwk(hub.public_key()))
    public["alg"] = algorithm
    path = os.path.join(s.dir.name, "hub.jwk")
    with open(path, "w") as f:
        json.dump(public, f)
    s.admin("issuer", "add", "https://hub.home", "--jwk", path, "--subject", "*", "--scope", "telemetry")
    secret = s.add_client("gateway", [JWT_BEARER], ["telemetry"])

    def grant(**overrides):
        now = int(time.time())
        claims = {"iss": "https://hub.home", "sub": "sensor-7", "aud": f"{s.issuer}/token",
                  "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
        claims.update(overrides)
        assertion = jwt.encode(claims, hub, algorithm=algorithm)
        return requests.post(f"{s.issuer}/token", auth=("gateway", secret), timeout=10,
                             data={"grant_type": JWT_BEARER, "assertion": assertion}), assertion

    r, assertion = grant()
    assert r.status_code == 200, r.text
    body = r.json()
    assert "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["client_id"], claims["scope"]) == ("sensor-7", "gateway", "telemetry")
    replay = requests.post(f"{s.issuer}/token", auth=("gateway", secret), timeout=10,
                           data={"grant_type": JWT_BEARER, "assertion": assertion})
    now = int(time.time())
    expired, _ = grant(exp=now - 300)
    wrong_aud, _ = grant(aud="https://elsewhere/token")
    for what, refused in [("replay", replay), ("expired", expired), ("aud", wrong_aud)]:
        assert refused.status_code == 400, (what, refused.text)
        assert refused.json()["error"] == "invalid_grant", what
