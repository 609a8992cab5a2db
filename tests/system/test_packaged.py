"""The owner's admin path, as the package installs piauth: `install.sh` stages the binary,
/etc/piauth/piauth.toml and /var/lib/piauth; the system user `piauth` runs the server with
the unit's command line; root types `piauth client add ...` in another directory and reaches
that server, or, while it is stopped, changes its store and leaves every file the piauth
user's. Never a second store beside the working directory.

Needs root (a system user, bind mounts): /etc/piauth and /var/lib/piauth are bind-mounted
from a staging directory inside a private mount namespace, so the machine's own are never
touched.
"""

import base64
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.abspath(os.environ.get("PIAUTH_BIN", os.path.join(TOP, "target", "debug", "piauth")))
MOUNTS = ["/etc/piauth", "/var/lib/piauth"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a system user and bind mounts")


class Install:
    """A staged install, bind-mounted where the package puts it, in a namespace of its own."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp()
        self.stage = os.path.join(self.tmp, "root")
        subprocess.run([os.path.join(TOP, "scripts", "install", "install.sh"), "--binary", BIN,
                        "--root", self.stage], check=True, capture_output=True)
        # What install.sh and postinst do outside --root: the system user owns the data.
        if subprocess.run(["getent", "passwd", "piauth"], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--home-dir", "/var/lib/piauth", "--no-create-home",
                            "--shell", "/usr/sbin/nologin", "piauth"], check=True)
        self.uid, self.gid = pwd.getpwnam("piauth").pw_uid, pwd.getpwnam("piauth").pw_gid
        self.data = os.path.join(self.stage, "var", "lib", "piauth")
        os.chown(self.data, self.uid, self.gid)
        os.chmod(self.tmp, 0o755)  # the piauth user reaches its data through here
        self.made = [m for m in MOUNTS if not os.path.exists(m)]
        for m in self.made:
            os.makedirs(m)
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             'mount --bind "$1" /etc/piauth && mount --bind "$2" /var/lib/piauth && echo ready && exec cat',
             "sh", os.path.join(self.stage, "etc", "piauth"), self.data],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout.readline().strip() == "ready"
        self.piauth = os.path.join(self.stage, "usr", "bin", "piauth")
        # Where the owner types the commands: their home, say; nothing may appear here.
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.server = None

    def inside(self, args):
        return ["nsenter", "-t", str(self.holder.pid), "-m", "--", *args]

    def sudo(self, *args, stdin=""):
        """`sudo piauth ARGS`, typed in the owner's home directory."""
        return subprocess.run(self.inside([self.piauth, *args]), cwd=self.home, input=stdin,
                              capture_output=True, text=True, timeout=120)

    def start(self):
        """The server as the unit starts it (its ExecStart and User=piauth), on loopback."""
        cmd = ["setpriv", "--reuid", "piauth", "--regid", "piauth", "--init-groups", "--",
               self.piauth, "--config", "/etc/piauth/piauth.toml", "--data-dir", "/var/lib/piauth",
               "serve", "--listen", "127.0.0.1:0"]
        self.server = subprocess.Popen(self.inside(cmd), cwd="/", stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log, found = [], threading.Event()

        def drain():
            for line in self.server.stderr:
                self.log.append(line)
                m = re.search(r"listening on (http://\S+)", line)
                if m:
                    self.url = m.group(1)
                    found.set()
        threading.Thread(target=drain, daemon=True).start()
        assert found.wait(60), "".join(self.log)

    def stop(self):
        self.server.terminate()
        assert self.server.wait(60) == 0, "".join(self.log)

    def owners(self):
        """(path, uid, gid) of every file and directory of the store."""
        out = []
        for d, dirs, files in os.walk(self.data):
            for name in [*dirs, *files, ""]:
                p = os.path.join(d, name)
                st = os.lstat(p)
                out.append((p, st.st_uid, st.st_gid))
        return out

    def close(self):
        if self.server and self.server.poll() is None:
            self.server.kill()
            self.server.wait()
        self.holder.stdin.close()
        self.holder.wait(30)
        for m in self.made:
            os.rmdir(m)
        shutil.rmtree(self.tmp)


@pytest.fixture
def install():
    i = Install()
    yield i
    i.close()


def token(url, client_id, secret):
    auth = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    req = urllib.request.Request(url + "/token", data=b"grant_type=client_credentials",
                                 headers={"Authorization": "Basic " + auth})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_sudo_piauth_reaches_the_installed_service_and_keeps_its_files_the_services(install):
    install.start()
    # Running: the command finds /etc/piauth/piauth.toml, its data_dir, the admin socket.
    out = install.sudo("client", "add", "thermostat", "--grant", "client_credentials",
                       "--scope", "telemetry", "--json")
    assert out.returncode == 0, out.stderr
    secret = json.loads(out.stdout)["client_secret"]
    assert token(install.url, "thermostat", secret)["token_type"] == "Bearer"
    assert os.listdir(install.home) == [], "a store was made in the working directory"
    listed = install.sudo("client", "list", "--json")
    assert listed.returncode == 0 and "thermostat" in listed.stdout, listed

    # Stopped: root writes the store itself and gives every file back to the piauth user,
    # so that the service starts again and sees the change.
    install.stop()
    out = install.sudo("user", "add", "alice", "--password-stdin", stdin="a long password\n")
    assert out.returncode == 0, out.stderr
    wrong = [o for o in install.owners() if o[1:] != (install.uid, install.gid)]
    assert wrong == [], f"left to another owner: {wrong}"
    install.start()
    out = install.sudo("user", "list", "--json")
    assert out.returncode == 0 and "alice" in out.stdout, out
    assert token(install.url, "thermostat", secret)["token_type"] == "Bearer"
    assert os.listdir(install.home) == []


def test_without_the_packaged_config_an_admin_command_makes_nothing_and_says_where_it_looked(install):
    os.rename(os.path.join(install.stage, "etc", "piauth", "piauth.toml"),
              os.path.join(install.tmp, "piauth.toml"))
    out = install.sudo("client", "add", "thermostat", "--grant", "client_credentials")
    assert out.returncode != 0, out
    assert "/etc/piauth/piauth.toml" in out.stderr, out.stderr
    assert "--data-dir" in out.stderr or "--config" in out.stderr, out.stderr
    assert os.listdir(install.home) == [], "a store was made in the working directory"
    assert os.listdir(install.data) == []
