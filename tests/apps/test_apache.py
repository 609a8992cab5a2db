"""Apache with Debian 12's mod_auth_openidc (2.4.12) signing people in through piauth.

The module runs at its defaults: apache/httpd.conf sets only what every deployment sets
(the provider's metadata URL, the client's id and secret, the redirect URI, the crypto
passphrase, trust of piauth's certificate as GET /certificate gives it) and the scopes an
app that shows email and groups asks for. It sets no OIDCPKCEMethod, so the module sends
no PKCE, only a nonce: these tests prove a person signs in that way (response_mode query
and form_post), that the app is given the claims it relies on, and that a person outside
an app's allowed group is turned away by piauth and never reaches the protected content.
"""

import html
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import App, Browser, Form, add_app, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "apache", "httpd.conf")
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/lib/apache2/modules/mod_auth_openidc.so"),
    reason="needs apt-get install apache2 libapache2-mod-auth-openidc")


class Apache:
    """`apache2 -X -f apache/httpd.conf` for one registered app, in a directory of its own."""

    def __init__(self, piauth, client_id, *extra, form_post=False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redirect_uri = f"{self.url}/private/redirect_uri"
        self.protected = f"{self.url}/private/claims"
        secret = add_app(piauth, client_id, self.redirect_uri, *extra)
        # Readable by the user a root-started Apache serves as (www-data).
        self.dir = tempfile.mkdtemp(prefix="apache-")
        os.chmod(self.dir, 0o755)
        shutil.copy(os.path.join(HERE, "apache", "claims.cgi"), self.dir)
        os.chmod(os.path.join(self.dir, "claims.cgi"), 0o755)
        cert = os.path.join(self.dir, "piauth.crt")
        shutil.copy(piauth.cert, cert)
        os.chmod(cert, 0o644)
        env = {"APP_DIR": self.dir, "APP_PORT": str(self.port), "PIAUTH_ISSUER": piauth.issuer,
               "PIAUTH_CERT": cert, "OIDC_CLIENT_ID": client_id, "OIDC_CLIENT_SECRET": secret,
               "OIDC_CRYPTO_PASSPHRASE": secrets.token_urlsafe(32)}
        args = [APACHE, "-f", CONF]
        if os.geteuid() == 0:
            args += ["-D", "AS_ROOT"]
        if form_post:
            args += ["-D", "FORM_POST"]
        check = subprocess.run(args + ["-t"], env={**os.environ, **env}, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.app = App(args + ["-X"], self.port, cwd=self.dir, env=env)

    def log(self):
        return self.app.output()

    def stop(self):
        self.app.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def apache(piauth):
    """Starts an Apache for a new client: apache(client_id, *client_add_args, form_post=)."""
    started = []

    def start(client_id, *extra, form_post=False):
        started.append(Apache(piauth, client_id, *extra, form_post=form_post))
        return started[-1]

    yield start
    for a in started:
        a.stop()


def shown(resp):
    """What claims.cgi printed: REMOTE_USER and every OIDC_CLAIM_*."""
    return dict(line.split("=", 1) for line in resp.text.splitlines() if "=" in line)


def new_browser(piauth):
    return Browser(piauth.issuer, piauth.cert)


def test_default_flow_signs_in_without_pkce_and_passes_the_claims(piauth, apache, browser):
    app = apache("apache-default")
    resp = browser.open(app.protected, user="alice")
    assert (resp.status_code, resp.url) == (200, app.protected), resp.text + app.log()
    # The module's defaults, as it sent them: the code flow in the query, a nonce, no PKCE.
    sent = browser.authorize_query()
    assert sent["response_type"] == ["code"] and sent["client_id"] == ["apache-default"]
    assert sent["redirect_uri"] == [app.redirect_uri]
    assert "nonce" in sent and "code_challenge" not in sent, sent
    assert "response_mode" not in sent, sent
    # On the way, piauth asked her to sign in and to allow the app.
    asked = [Form(p.text).fields for p in browser.pages[:-1]]
    assert "password" in asked[0] and asked[1].get("action") == "consent", asked
    claims = shown(resp)
    assert claims["OIDC_CLAIM_email"] == "alice@home.lan", claims
    # The module passes a JSON true as "1".
    assert claims["OIDC_CLAIM_email_verified"] == "1", claims
    assert claims["OIDC_CLAIM_name"] == "Alice Liddell", claims
    assert "family" in claims["OIDC_CLAIM_groups"].split(","), claims
    # REMOTE_USER is the module's default "sub@": the subject at the issuer's host.
    sub = claims["OIDC_CLAIM_sub"]
    assert claims["REMOTE_USER"] == f"{sub}@{piauth.issuer.removeprefix('https://')}", claims
    # Signed in: the next visit is served from the module's session, without piauth.
    again = browser.session.get(app.protected, allow_redirects=False, timeout=30)
    assert again.status_code == 200 and shown(again)["OIDC_CLAIM_email"] == "alice@home.lan"


def test_form_post_signs_in_through_the_continue_page(piauth, apache, browser):
    app = apache("apache-form-post", form_post=True)
    resp = browser.open(app.protected, user="alice")
    assert (resp.status_code, resp.url) == (200, app.protected), resp.text + app.log()
    sent = browser.authorize_query()
    assert sent.get("response_mode") == ["form_post"] and "code_challenge" not in sent, sent
    # piauth's last page is the form a browser posts to the app, the code in its fields...
    page = browser.pages[-2]
    assert page.url.startswith(piauth.issuer), page.url
    form = Form(page.text)
    assert (form.action, form.method) == (app.redirect_uri, "post"), page.text
    assert form.fields["state"] == sent["state"][0] and form.fields["code"], form.fields
    # ...which reached Apache as that POST (answered by a redirect to the page first asked
    # for), never as a query.
    posted = resp.history[0]
    assert (posted.request.method, posted.request.url) == ("POST", app.redirect_uri)
    assert not any(h.url.startswith(app.redirect_uri + "?") for p in browser.pages for h in p.history)
    assert shown(resp)["OIDC_CLAIM_email"] == "alice@home.lan"


@pytest.mark.parametrize("form_post", [False, True], ids=["query", "form_post"])
def test_an_app_for_one_group_lets_its_members_in_and_turns_others_away(piauth, apache, form_post):
    client_id = "apache-family" + ("-form-post" if form_post else "")
    app = apache(client_id, "--allowed-group", "family", form_post=form_post)
    alice = new_browser(piauth)
    resp = alice.open(app.protected, user="alice")
    assert (resp.status_code, resp.url) == (200, app.protected), resp.text + app.log()
    assert "family" in shown(resp)["OIDC_CLAIM_groups"].split(",")

    bob = new_browser(piauth)
    page = bob.open(app.protected, user="bob")
    # piauth's page, once bob has signed in, says why and leads back to the app...
    assert page.url.startswith(piauth.issuer) and page.status_code == 403, page.text
    assert f"bob is not in a group that may use {client_id}" in page.text
    # ...with access_denied for the state the app sent: by a link, or in form_post by a form.
    if form_post:
        form = Form(page.text)
        url, told = form.action, form.fields
        assert (url, form.method) == (app.redirect_uri, "post"), page.text
        at_app = bob.session.post(url, data=told, timeout=30)
    else:
        links = [html.unescape(a) for a in re.findall(r'<a href="([^"]*)"', page.text)]
        assert len(links) == 1 and links[0].startswith(app.redirect_uri + "?"), page.text
        told = {k: v[0] for k, v in parse_qs(urlparse(links[0]).query).items()}
        at_app = bob.session.get(links[0], timeout=30)
    assert told["error"] == "access_denied" and "code" not in told, told
    assert told["state"] == bob.authorize_query()["state"][0], told
    # Apache shows bob its error page, never the content, and keeps no session for him.
    assert "OIDC_CLAIM_" not in at_app.text and "REMOTE_USER" not in at_app.text, at_app.text
    assert "<title>Error</title>" in at_app.text, at_app.text + app.log()
    if form_post:
        assert "OpenID Connect Provider error: access_denied" in at_app.text, at_app.text
    # (Not so in the query mode: mod_auth_openidc, 2.4.12 and its source to this day, takes
    # a GET to its redirect URI with an `iss` but no code for a third-party-initiated login,
    # so the `iss` RFC 9207 puts in error responses too makes it say "Invalid Request".)
    assert "mod_auth_openidc_session" not in bob.session.cookies
    again = bob.open(app.protected, user="bob")
    assert again.url.startswith(piauth.issuer) and again.status_code == 403, again.text
    assert not any("OIDC_CLAIM_" in p.text for p in bob.pages)
