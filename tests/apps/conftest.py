"""Real relying parties, installed from the registries, signing people in through piauth.

One `piauth serve` over HTTPS (its own certificate, given to each app the way the README
says: the PEM from GET /certificate), with two people: alice, in the group "family", with a
verified email; and bob, in no group. A `requests` session plays a browser without
JavaScript (it presses the form_post page's button); one test drives headless Chromium.
"""

import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "lib"))
from piauthproc import Piauth  # noqa: E402

BIN = os.environ.get("PIAUTH_BIN", os.path.join(HERE, "..", "..", "target", "debug", "piauth"))
PASSWORD = "correct horse battery"
PEOPLE = {
    "alice": {"name": "Alice Liddell", "email": "alice@home.lan", "groups": ["family"]},
    "bob": {"name": "Bob Builder", "email": "bob@home.lan", "groups": []},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_listening(port, proc, timeout=60):
    """Returns once something accepts on 127.0.0.1:port; fails if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited ({proc.returncode}) before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


class Form(HTMLParser):
    """The first form of a page: its action, method and the fields a browser would send."""

    def __init__(self, html):
        super().__init__()
        self.action, self.method, self.fields, self.forms = None, "get", {}, 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms += 1
            if self.forms == 1:
                self.action, self.method = a.get("action"), (a.get("method") or "get").lower()
        elif tag == "input" and self.forms == 1 and a.get("name"):
            self.fields.setdefault(a["name"], a.get("value") or "")


class Browser:
    """A browser without JavaScript: follows redirects, keeps cookies per site, fills in
    piauth's sign-in and consent pages, and presses form_post's Continue button."""

    def __init__(self, issuer, cert):
        self.issuer = issuer
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
        self.session.verify = cert  # the certificate from GET /certificate, as a phone trusts it
        self.pages = []

    def open(self, url, user=None, decision="allow"):
        """Opens `url`, signs `user` in where piauth asks, answers consent with `decision`;
        the last response (at the app, or a piauth page that ends the journey)."""
        return self.follow(self.session.get(url, timeout=30), user, decision)

    def authorize_query(self):
        """The query of the app's redirect to piauth's authorization endpoint."""
        for page in self.pages:
            for hop in [*page.history, page]:
                loc = hop.headers.get("Location", "")
                if hop.status_code in (302, 303) and loc.startswith(self.issuer + "/authorize"):
                    return parse_qs(urlparse(loc).query)
        raise AssertionError("the app never sent the browser to piauth")

    def follow(self, resp, user=None, decision="allow"):
        """Goes on from `resp` as `open` does."""
        for _ in range(10):
            self.pages.append(resp)
            if not resp.url.startswith(self.issuer) or resp.status_code != 200:
                return resp
            form = Form(resp.text)
            fields = dict(form.fields)
            if "password" in fields and user is not None:
                fields.update(username=user, password=PASSWORD)
            elif fields.get("action") == "consent":
                fields["decision"] = decision
            elif form.action and form.method == "post" and not form.action.startswith("/"):
                pass  # form_post: the answer to the app, sent as the button would
            else:
                return resp
            resp = self.session.post(urljoin(resp.url, form.action), data=fields, timeout=30)
        raise AssertionError("too many pages: " + " -> ".join(r.url for r in self.pages))


@pytest.fixture(scope="session")
def piauth():
    d = tempfile.TemporaryDirectory()
    s = Piauth(os.path.join(d.name, "data"), ["--tls", "on"], binary=BIN, timeout=60,
               config="argon2_memory_kib = 1024\nargon2_iterations = 1\n")
    # OpenID Connect's default, RS256, has its key made after start (seconds on a Pi 1).
    assert s.wait_log(r"ID tokens: RS256 key", 120), "".join(s.log)
    s.issuer = s.url
    s.tmp = d.name
    # What an app is given to trust: the certificate from GET /certificate, whose
    # fingerprint the operator compares with `piauth tls fingerprint`.
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with urllib.request.urlopen(s.url + "/certificate", context=ctx, timeout=30) as r:
        pem, shown = r.read().decode(), r.headers["Piauth-Certificate-Sha256"]
    assert shown == s.admin("tls", "fingerprint").strip()
    s.cert = os.path.join(d.name, "piauth.crt")
    with open(s.cert, "w") as f:
        f.write(pem)
    for name, p in PEOPLE.items():
        args = ["user", "add", name, "--name", p["name"], "--email", p["email"], "--password-stdin"]
        for g in p["groups"]:
            args += ["--group", g]
        s.admin(*args, stdin=PASSWORD + "\n")
    yield s
    s.stop()
    d.cleanup()


def add_app(piauth, client_id, redirect_uri, *extra, scopes="openid profile email groups"):
    """Registers an app as its documentation says to: a confidential client with the
    code grant for `redirect_uri`; returns its secret."""
    args = ["client", "add", client_id, "--grant", "authorization_code", "--grant", "refresh_token",
            "--redirect-uri", redirect_uri, "--json", *extra]
    for s in scopes.split():
        args += ["--scope", s]
    return json.loads(piauth.admin(*args))["client_secret"]


@pytest.fixture
def browser(piauth):
    return Browser(piauth.issuer, piauth.cert)


@pytest.fixture
def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--ignore-certificate-errors", "--window-size=1280,900", "--lang=en-US"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


class App:
    """A relying party's process, stopped at the end; its output kept for failures."""

    def __init__(self, args, port, cwd=None, env=None):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(args, cwd=cwd, env={**os.environ, **(env or {})},
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = port
        wait_until_listening(port, self.proc)

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
