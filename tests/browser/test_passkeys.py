"""Passkeys in a real browser: headless Chromium with WebDriver's virtual authenticator
(Chromium's own CTAP2 emulation, a platform authenticator that verifies the person). A
person adds a passkey on the account page, signs in to an app with it and no password,
uses it as the second step after a password, and removes it; a passkey piauth never saw
is refused. piauth runs at http://localhost: WebAuthn needs a secure context, and a
browser counts localhost as one (a LAN server needs HTTPS with a trusted certificate)."""

import json
import os
import socket
import tempfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import Credential, VirtualAuthenticatorOptions

from conftest import BIN, screenshot
from piauthproc import Piauth
from test_account import id_claims, sign_in
from test_pages import RelyingParty, wait_for, wait_text


@pytest.fixture
def local_server():
    """piauth whose issuer is http://localhost:PORT (a name, so a passkey can be bound to
    it; a secure context without a certificate)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tempfile.TemporaryDirectory()
    s = Piauth(os.path.join(d.name, "data"), [], binary=BIN, timeout=60, listen=f"127.0.0.1:{port}",
               config=f'argon2_memory_kib = 1024\nargon2_iterations = 1\nissuer = "http://localhost:{port}"\n')
    s.issuer, s.cert = f"http://localhost:{port}", None
    yield s
    s.stop()
    d.cleanup()


def authenticator(browser):
    options = VirtualAuthenticatorOptions()
    options.protocol = VirtualAuthenticatorOptions.Protocol.CTAP2
    options.transport = VirtualAuthenticatorOptions.Transport.INTERNAL
    options.has_resident_key = True
    options.has_user_verification = True
    options.is_user_verified = True
    browser.add_virtual_authenticator(options)


def signed_in_to(browser, rp):
    wait_text(browser, "#who", "Signed in as")
    return id_claims(rp.last_tokens)


def test_a_passkey_signs_in_without_a_password_and_as_a_second_step(local_server, browser):
    server = local_server
    server.admin("user", "add", "fern", "--name", "Fern", "--password-stdin", stdin="fern's password\n")
    server.admin("client", "add", "notes", "--public", "--scope", "openid", "--scope", "profile",
                 "--redirect-uri", "http://127.0.0.1/cb")
    rp = RelyingParty(server, "notes")
    authenticator(browser)
    try:
        browser.get(server.issuer + "/account")
        sign_in(browser, "fern", "fern's password")
        wait_text(browser, "h1", "Your account")
        wait_for(browser, "form[data-passkey='register']:not([hidden])")
        browser.find_element(By.ID, "passkey_name").send_keys("laptop")
        browser.find_element(By.XPATH, "//button[text()='Add a passkey']").click()
        wait_text(browser, "p.notice", "The passkey was added.")
        assert "laptop" in browser.find_element(By.TAG_NAME, "table").text
        screenshot(browser, "account-passkeys")
        shown = json.loads(server.admin("user", "show", "fern", "--json"))
        assert [p["name"] for p in shown["factors"]["passkeys"]] == ["laptop"]
        assert "static_state" not in json.dumps(shown), "no key material"

        # Another visit, signed out: the passkey alone signs in to the app.
        browser.delete_all_cookies()
        browser.get(rp.base + "/login")
        wait_for(browser, "form[data-passkey='sign_in']:not([hidden])")
        screenshot(browser, "sign-in-passkey")
        browser.find_element(By.XPATH, "//button[text()='Sign in with a passkey']").click()
        wait_text(browser, "h1", "Allow")
        browser.find_element(By.XPATH, "//button[@value='allow']").click()
        claims = signed_in_to(browser, rp)
        assert claims["amr"] == ["hwk", "mfa"], claims

        # A password now asks for a second step, which the passkey gives.
        browser.delete_all_cookies()
        browser.get(rp.base + "/login?prompt=login")
        sign_in(browser, "fern", "fern's password")
        wait_for(browser, "form[data-passkey='sign_in']:not([hidden])")
        browser.find_element(By.XPATH, "//button[text()='Use a passkey instead']").click()
        claims = signed_in_to(browser, rp)
        assert claims["amr"] == ["pwd", "hwk", "mfa"], claims

        # Removed on the account page: it signs in no more.
        browser.get(server.issuer + "/account")
        wait_text(browser, "h1", "Your account")
        browser.find_element(By.XPATH, "//button[@aria-label='Remove passkey laptop']").click()
        wait_text(browser, "p.notice", "The passkey was removed.")
        browser.delete_all_cookies()
        browser.get(server.issuer + "/account")
        wait_for(browser, "form[data-passkey='sign_in']:not([hidden])").find_element(By.TAG_NAME, "button").click()
        wait_text(browser, "p.error", "could not sign you in")
        assert server.wait_log("passkey_refused", 30), "".join(server.log)
    finally:
        rp.stop()


def test_a_passkey_piauth_never_registered_is_refused(local_server, browser):
    server = local_server
    server.admin("user", "add", "gus", "--password-stdin", stdin="gus's password\n")
    authenticator(browser)
    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    # A credential for this RP ID and a made-up user handle: the browser offers it, piauth
    # knows no one by it.
    browser.add_credential(Credential.create_resident_credential(
        os.urandom(16), "localhost", os.urandom(32), pkcs8, 0))
    browser.get(server.issuer + "/account")
    wait_for(browser, "form[data-passkey='sign_in']:not([hidden])").find_element(By.TAG_NAME, "button").click()
    wait_text(browser, "p.error", "That passkey is not known here")
    assert server.wait_log("unknown_passkey", 30), "".join(server.log)
    assert "Your account" not in browser.find_element(By.TAG_NAME, "h1").text
