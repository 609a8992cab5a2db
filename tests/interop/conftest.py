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
        super().__init__(os.path.join(self.dir.name, "data"), ["--algorithm", algorithm],
                         config="argon2_memory_kib = 1024\nargon2_iterations = 1\n", binary=BIN, timeout=60)
        self.issuer = self.url

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
