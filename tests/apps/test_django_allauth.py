"""A Django app with django-allauth's openid_connect provider, configured as Paperless-ngx
configures it (django/settings.py): a provider id, a name, the client's id and secret and
server_url, the issuer; piauth's certificate trusted through REQUESTS_CA_BUNDLE.

At those defaults allauth sends neither PKCE nor a nonce: its only defence against an
injected code is its state. piauth's rule (RFC 9700 §2.1.1) refuses that for a client
registered as the others are, so these tests show what works: the app with PKCE turned on
in its own settings ("oauth_pkce_enabled", the way docs/apps.md recommends), and at its
defaults with the client registered `--pkce-optional`, piauth's explicit, per-client
exception, which a default registration never gets.
"""

import json
import os
import subprocess
import sys
import tempfile
from urllib.parse import parse_qs, urlparse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import App, Browser, Form, add_app, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
DJANGO_DIR = os.path.join(HERE, "django")
PYTHON = sys.executable  # the venv that has Django and allauth
LOGIN = "/accounts/oidc/piauth/login/"


class DjangoApp:
    """`manage.py migrate` into a fresh sqlite file, then `runserver` for one registered app."""

    def __init__(self, piauth, client_id, *extra, provider_settings=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        secret = add_app(piauth, client_id, f"{self.url}{LOGIN}callback/", *extra)
        self.dir = tempfile.TemporaryDirectory(prefix="django-")
        env = {"DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": DJANGO_DIR,
               "APP_DB": os.path.join(self.dir.name, "app.sqlite3"), "PIAUTH_ISSUER": piauth.issuer,
               "CLIENT_ID": client_id, "CLIENT_SECRET": secret,
               "APP_PROVIDER_SETTINGS": json.dumps(provider_settings or {}),
               "REQUESTS_CA_BUNDLE": piauth.cert}
        env = {**os.environ, **env}
        subprocess.run([PYTHON, "-m", "django", "migrate", "-v0"], env=env, cwd=DJANGO_DIR, check=True)
        self.app = App([PYTHON, "-m", "django", "runserver", "--noreload", "--nothreading",
                        f"127.0.0.1:{self.port}"], self.port, cwd=DJANGO_DIR, env=env)

    def sign_in(self, browser, user):
        """What a person does: opens the app's "sign in with piauth" page, presses Continue,
        and signs in at piauth; the last response."""
        page = browser.session.get(self.url + LOGIN, timeout=30)
        assert page.status_code == 200, page.text
        form = Form(page.text)
        assert form.method == "post" and "csrfmiddlewaretoken" in form.fields, page.text
        sent = browser.session.post(self.url + LOGIN, data=form.fields, timeout=30,
                                    headers={"Referer": self.url + LOGIN})
        return browser.follow(sent, user=user)

    def stop(self):
        self.app.stop()
        self.dir.cleanup()


@pytest.fixture
def django_app(piauth):
    started = []

    def start(client_id, *extra, **kw):
        started.append(DjangoApp(piauth, client_id, *extra, **kw))
        return started[-1]

    yield start
    for a in started:
        a.stop()


def test_a_person_signs_in_in_chromium_with_pkce_on_in_the_apps_settings(piauth, django_app, chromium):
    app = django_app("paperless", provider_settings={"oauth_pkce_enabled": True})
    chromium.get(app.url + LOGIN)
    chromium.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait = WebDriverWait(chromium, 30)
    wait.until(ec.presence_of_element_located((By.NAME, "password")))
    assert chromium.current_url.startswith(piauth.issuer + "/authorize"), chromium.current_url
    query = parse_qs(urlparse(chromium.current_url).query)
    assert query["code_challenge_method"] == ["S256"] and "nonce" not in query, query
    chromium.find_element(By.NAME, "username").send_keys("alice")
    chromium.find_element(By.NAME, "password").send_keys("correct horse battery")
    chromium.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(lambda d: d.current_url.startswith(app.url + "/me")
               or d.find_elements(By.CSS_SELECTOR, "button[value=allow]"))
    if not chromium.current_url.startswith(app.url + "/me"):
        chromium.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        wait.until(lambda d: d.current_url.startswith(app.url + "/me"))
    me = json.loads(chromium.find_element(By.TAG_NAME, "body").text)
    assert me["signed_in"], me + app.app.output()
    # allauth trusts the address only because piauth says the operator verified it.
    assert me["emails"] == [{"email": "alice@home.lan", "verified": True}], me
    data = me["extra_data"]
    userinfo = data.get("userinfo", data)
    assert userinfo["name"] == "Alice Liddell", data
    # allauth asks for "openid profile email": groups go only to an app that asks for them.
    assert "groups" not in userinfo, data


def test_at_its_defaults_it_signs_in_without_pkce_or_nonce_only_where_the_client_allows_it(piauth, django_app):
    strict = django_app("paperless-default")
    browser = Browser(piauth.issuer, piauth.cert)
    refused = strict.sign_in(browser, "alice")
    sent = browser.authorize_query()
    assert "code_challenge" not in sent and "nonce" not in sent, sent
    # piauth answers the app, not the person, with the error (RFC 6749 §4.1.2.1) ...
    assert refused.url.startswith(strict.url + LOGIN + "callback/"), refused.url
    assert parse_qs(urlparse(refused.url).query)["error"] == ["invalid_request"], refused.url
    assert "signed_in" not in refused.text

    relaxed = django_app("paperless-relaxed", "--pkce-optional")
    browser = Browser(piauth.issuer, piauth.cert)
    resp = relaxed.sign_in(browser, "alice")
    assert resp.url == relaxed.url + "/me" and resp.status_code == 200, resp.text
    me = resp.json()
    assert me["emails"] == [{"email": "alice@home.lan", "verified": True}], me


def test_an_app_for_one_group_signs_in_a_member_and_never_a_stranger(piauth, django_app):
    app = django_app("paperless-family", "--allowed-group", "family",
                     provider_settings={"oauth_pkce_enabled": True})
    alice = app.sign_in(Browser(piauth.issuer, piauth.cert), "alice")
    assert alice.url == app.url + "/me" and alice.json()["signed_in"], alice.text

    bob = Browser(piauth.issuer, piauth.cert)
    page = app.sign_in(bob, "bob")
    assert page.url.startswith(piauth.issuer) and page.status_code == 403, page.text
    assert "bob is not in a group that may use paperless-family" in page.text
    me = bob.session.get(app.url + "/me", timeout=30)
    assert me.status_code == 401 and not me.json()["signed_in"], me.text
