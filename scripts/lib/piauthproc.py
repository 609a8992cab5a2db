"""A real `piauth serve` process, for the scripts and the interop tests.

Starts the binary (optionally under a runner such as qemu or valgrind) on a free loopback
port with its own data directory, waits for "listening on", keeps its log, and talks to it:
admin commands, form POSTs, RSS from /proc. Standard library only.
"""

import base64
import json
import os
import re
import shlex
import ssl
import subprocess
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE_BIN = os.path.join(ROOT, "target", "release", "piauth")


def status_kib(pid, field):
    """A kB figure (VmRSS, VmHWM, ...) from /proc/PID/status; 0 if absent."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def elf_bits(path):
    """32 or 64: the word size of an ELF binary (a 32-bit piauth keeps ES256 nonces)."""
    with open(path, "rb") as f:
        head = f.read(5)
    if head[:4] != b"\x7fELF":
        raise ValueError(f"{path} is not an ELF binary")
    return 32 if head[4] == 1 else 64


def basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class Piauth:
    """`piauth [--config] --data-dir DATA serve --listen 127.0.0.1:0 SERVE_ARGS`.

    config: TOML text written beside the data directory. runner: a command prefix (a
    string, split like a shell would) for the server only, e.g. "taskset -c 0".
    admin_runner: the prefix for admin commands (defaults to none).
    """

    def __init__(self, data, serve_args=(), config=None, binary=None, runner="", admin_runner="",
                 timeout=120, listen="127.0.0.1:0"):
        self.binary = os.path.abspath(binary or RELEASE_BIN)
        self.data = data
        self.base = [self.binary]
        if config is not None:
            os.makedirs(os.path.dirname(os.path.abspath(data)), exist_ok=True)
            path = os.path.abspath(data) + ".toml"
            with open(path, "w") as f:
                f.write(config)
            self.base += ["--config", path]
        self.base += ["--data-dir", data]
        self.admin_prefix = shlex.split(admin_runner)
        self.log, self.tuning, self.addr = [], {}, None
        self.logged = threading.Condition()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            shlex.split(runner) + self.base + ["serve", "--listen", listen, *serve_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        found = threading.Event()

        def drain():
            for line in self.proc.stderr:
                with self.logged:
                    self.log.append(line)
                    self.logged.notify_all()
                m = re.search(r"listening on (https?)://(\S+)", line)
                if m:
                    self.scheme, self.addr = m.group(1), m.group(2)
                    found.set()
                m = re.search(r"tuning: (\{.*\})", line)
                if m:
                    self.tuning.update(json.loads(m.group(1)))

        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(timeout):
            self.proc.kill()
            raise RuntimeError("piauth did not start:\n" + "".join(self.log))
        self.url = f"{self.scheme}://{self.addr}"
        # Over HTTPS, the certificate piauth made at first start is the one to trust.
        self.cafile = os.path.join(data, "tls.pem") if self.scheme == "https" else None
        self.ssl = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
        self.host, port = self.addr.rsplit(":", 1)
        self.port = int(port)
        while True:  # start-up = spawn to the first answered request
            try:
                urllib.request.urlopen(self.url + "/health", timeout=timeout, context=self.ssl).read()
                break
            except OSError:
                time.sleep(0.001)
        self.startup_ms = (time.monotonic() - t0) * 1000

    def wait_log(self, pattern, timeout):
        """The first log line matching `pattern` (a regex), waiting for it; None on timeout."""
        def found():
            return next((l for l in self.log if re.search(pattern, l)), None)
        with self.logged:
            self.logged.wait_for(found, timeout)
            return found()

    def settled(self, timeout=900):
        """Waits for the start's background work, the RS256 ID-token key (seconds of RSA at
        the lowest priority), so that a measurement does not share the CPU with it. False if
        it was not done in time."""
        return self.wait_log(r"ID tokens: RS256 key|RS256 ID-token key", timeout) is not None

    @property
    def pid(self):
        return self.proc.pid

    def admin(self, *args, stdin=""):
        out = subprocess.run(self.admin_prefix + self.base + list(args), input=stdin,
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"piauth {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out.stdout

    def add_client(self, client_id, grants=("client_credentials",), scopes=("read",)):
        """Registers a client; returns its secret (see `basic`)."""
        args = ["client", "add", client_id, "--json"]
        for g in grants:
            args += ["--grant", g]
        for s in scopes:
            args += ["--scope", s]
        return json.loads(self.admin(*args))["client_secret"]

    def add_user(self, name, password, scopes=("read",)):
        args = ["user", "add", name, "--password-stdin"]
        for s in scopes:
            args += ["--scope", s]
        self.admin(*args, stdin=password + "\n")

    def post(self, path, body, auth, timeout=120):
        req = urllib.request.Request(self.url + path, data=body.encode(), headers={"Authorization": auth})
        return json.loads(urllib.request.urlopen(req, timeout=timeout, context=self.ssl).read())

    def kib(self, field):
        return status_kib(self.proc.pid, field)

    def stop(self):
        """Stops the server (SIGTERM); returns its peak RSS (VmHWM) in KiB."""
        peak = self.kib("VmHWM") if self.proc.poll() is None else 0
        self.proc.terminate()
        self.proc.wait(120)
        return peak
