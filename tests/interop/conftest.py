"""A real `piauth serve` for the interop tests, started like tests/util.rs starts it."""

import json
import os
import re
import subprocess
import tempfile
import threading

import pytest

BIN = os.environ.get("PIAUTH_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "piauth"))


class Server:
    def __init__(self, algorithm):
        self.dir = tempfile.TemporaryDirectory()
        self.config = os.path.join(self.dir.name, "piauth.toml")
        with open(self.config, "w") as f:
            f.write("argon2_memory_kib = 1024\nargon2_iterations = 1\n")
        self.data = os.path.join(self.dir.name, "data")
        self.proc = subprocess.Popen(
            [BIN, "--config", self.config, "--data-dir", self.data, "serve",
             "--listen", "127.0.0.1:0", "--algorithm", algorithm],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.log = []
        found = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on http://(\S+)", line)
                if m:
                    self.addr = m.group(1)
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(60):
            self.proc.kill()
            raise RuntimeError("piauth did not start:\n" + "".join(self.log))
        self.issuer = f"http://{self.addr}"

    def admin(self, *args, stdin=""):
        out = subprocess.run(
            [BIN, "--config", self.config, "--data-dir", self.data, *args],
            input=stdin, capture_output=True, text=True, check=True,
        )
        return out.stdout

    def add_client(self, client_id, grants, scopes):
        args = ["client", "add", client_id, "--json"]
        for g in grants:
            args += ["--grant", g]
        for s in scopes:
            args += ["--scope", s]
        return json.loads(self.admin(*args))["client_secret"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
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
