"""A real `piauth serve` for the interop tests, started like tests/util.rs starts it."""

import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "lib"))
from piauthproc import Piauth  # noqa: E402

BIN = os.environ.get("PIAUTH_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "piauth"))


class Server(Piauth):
    def __init__(self, algorithm):
        self.dir = tempfile.TemporaryDirectory()
        # Cheap password hashing: these tests are about the protocol, not Argon2's cost.
        # HTTPS, as on a LAN (loopback alone would be plain), with the certificate piauth
        # makes at first start; the clients trust what `piauth tls cert` prints, as a device
        # would (the server's own file also holds its key).
        super().__init__(os.path.join(self.dir.name, "data"), ["--algorithm", algorithm, "--tls", "on"],
                         config="argon2_memory_kib = 1024\nargon2_iterations = 1\n", binary=BIN, timeout=60)
        assert self.url.startswith("https://")
        self.issuer = self.url
        cert = os.path.join(self.dir.name, "piauth.crt")
        with open(cert, "w") as f:
            f.write(self.admin("tls", "cert"))
        os.environ["REQUESTS_CA_BUNDLE"] = cert  # requests, requests-oauthlib
        os.environ["SSL_CERT_FILE"] = cert  # urllib: PyJWKClient

    def stop(self):
        super().stop()
        self.dir.cleanup()


@pytest.fixture
def server_factory():
    servers = []

    def make(algorithm):
        s = Server(algorithm)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()
