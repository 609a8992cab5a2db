"""The pages in a real browser (headless Chromium): sign in, consent, the code flow with PKCE
to a small relying party, a device approved and one denied, the operator's page, logout, an
error; each page screenshotted at a phone's and a desktop's width."""

import base64
import hashlib
import http.server
import json
import secrets
import threading
import urllib.parse

import requests
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import screenshot

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class RelyingParty:
    """A web app that signs people in with piauth: /login sends the browser to piauth with
    PKCE, /cb takes the code back, exchanges it and shows who signed in."""

    def __init__(self, server, client_id):
        rp = self
        self.server, self.client_id, self.pending = server, client_id, {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body, location=None):
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/login":
                    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
                    rp.pending[state] = verifier
                    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    params = {"response_type": "code", "client_id": rp.client_id, "state": state,
                              "redirect_uri": rp.redirect_uri, "scope": "openid profile",
                              "code_challenge": challenge.decode().rstrip("="),
                              "code_challenge_method": "S256", "nonce": secrets.token_urlsafe(8)}
                    for extra in ("prompt", "acr_values"):
                        if extra in q:
                            params[extra] = q[extra]
                    return self.answer(302, "", server.issuer + "/authorize?" + urllib.parse.urlencode(params))
                if url.path == "/cb":
                    if "error" in q:
                        return self.answer(200, f"<h1>Not signed in: {q['error']}</h1>")
                    verifier = rp.pending.pop(q.get("state"), None)
                    assert verifier and q.get("iss") == server.issuer
                    token = requests.post(server.issuer + "/token", verify=server.cert, timeout=30, data={
                        "grant_type": "authorization_code", "code": q["code"], "client_id": rp.client_id,
                        "redirect_uri": rp.redirect_uri, "code_verifier": verifier}).json()
                    rp.last_token, rp.last_tokens = token["access_token"], token
                    info = requests.get(server.issuer + "/userinfo", verify=server.cert, timeout=30,
                                        headers={"Authorization": "Bearer " + token["access_token"]}).json()
                    return self.answer(200, f"<h1 id=who>Signed in as {info['name']}</h1>")
                self.answer(404, "no")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.redirect_uri = self.base + "/cb"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def wait_for(driver, css):
    return WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def wait_text(driver, css, text):
    """Waits until the element shows `text` (the page after a click replaces the one before)."""
    # While the next page replaces this one, reading an element can fail: read again.
    WebDriverWait(driver, 20, ignored_exceptions=(WebDriverException,)).until(
        lambda d: text in d.find_element(By.CSS_SELECTOR, css).text)


def test_a_person_signs_in_to_an_app_approves_devices_and_signs_out(server, browser):
    server.admin("user", "add", "alice", "--name", "Alice Liddell", "--scope", "media", "--admin",
                 "--password-stdin", stdin="wonderland\n")
    # The loopback redirect URI is registered without a port (RFC 8252 §7.3).
    server.admin("client", "add", "photos", "--public", "--scope", "openid", "--scope", "profile",
                 "--redirect-uri", "http://127.0.0.1/cb")
    server.admin("client", "add", "tv", "--public", "--grant", GRANT, "--scope", "media")
    rp = RelyingParty(server, "photos")
    try:
        # The app sends the browser to piauth: the sign-in page.
        browser.get(rp.base + "/login")
        user = wait_for(browser, "#username")
        assert "photos" in browser.page_source
        assert browser.switch_to.active_element == user, "the user name field has the focus"
        screenshot(browser, "sign-in")
        # A wrong password first: the form comes back with the error, the name kept.
        user.send_keys("alice")
        browser.find_element(By.ID, "password").send_keys("wrong", Keys.ENTER)
        error = wait_for(browser, "[role=alert]")
        assert "Wrong user name or password" in error.text
        screenshot(browser, "sign-in-error")
        # By keyboard alone: the name is still there, Tab to the password, Enter to send.
        field = browser.find_element(By.ID, "username")
        assert field.get_attribute("value") == "alice"
        field.send_keys(Keys.TAB)
        browser.switch_to.active_element.send_keys("wonderland", Keys.ENTER)
        wait_for(browser, "button[value=allow]")
        assert "See your name and user name" in browser.page_source
        screenshot(browser, "consent")
        browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        who = wait_for(browser, "#who")
        assert who.text == "Signed in as Alice Liddell"
        # From the app's own origin, a script reads piauth's discovery and /userinfo (CORS,
        # with the preflight the Authorization header needs).
        token = rp.last_token
        result = browser.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const issuer = arguments[0], token = arguments[1];
            fetch(issuer + '/.well-known/openid-configuration')
              .then(r => r.json())
              .then(c => fetch(c.userinfo_endpoint, {headers: {Authorization: 'Bearer ' + token}}))
              .then(r => r.json()).then(done, e => done('failed: ' + e));
        """, server.issuer, token)
        assert result == {"sub": "alice", "preferred_username": "alice", "name": "Alice Liddell"}, result
        # Consent is remembered: the next sign-in goes straight through.
        browser.get(rp.base + "/login")
        assert wait_for(browser, "#who").text == "Signed in as Alice Liddell"

        # A TV asks; the person opens the link it shows, already signed in, and allows it.
        start = requests.post(server.issuer + "/device_authorization", verify=server.cert, timeout=30,
                              data={"client_id": "tv", "scope": "media"}).json()
        browser.get(start["verification_uri_complete"])
        wait_for(browser, "button[value=allow]")
        assert start["user_code"] in browser.page_source
        screenshot(browser, "device-consent")
        browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        wait_text(browser, "h1", "Device connected")
        screenshot(browser, "device-done")
        token = requests.post(server.issuer + "/token", verify=server.cert, timeout=30, data={
            "grant_type": GRANT, "client_id": "tv", "device_code": start["device_code"]}).json()
        assert "access_token" in token, token

        # A second one, typed by hand, denied.
        start = requests.post(server.issuer + "/device_authorization", verify=server.cert, timeout=30,
                              data={"client_id": "tv"}).json()
        browser.get(start["verification_uri"])
        field = wait_for(browser, "#user_code")
        screenshot(browser, "device-code")
        field.send_keys(start["user_code"].replace("-", "").lower(), Keys.ENTER)
        wait_for(browser, "button[value=deny]").click()
        wait_text(browser, "h1", "Device refused")
        denied = requests.post(server.issuer + "/token", verify=server.cert, timeout=30, data={
            "grant_type": GRANT, "client_id": "tv", "device_code": start["device_code"]}).json()
        assert denied["error"] == "access_denied"

        # The operator's page.
        browser.get(server.issuer + "/operator")
        wait_for(browser, "svg.chart")
        page = browser.page_source
        assert "photos" in page and "tv" in page and "Tokens per minute" in page
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart rect")) >= 1
        screenshot(browser, "operator")

        # Signing out (confirmed: a link alone does not sign anyone out) ends the session:
        # the app's next silent sign-in is refused.
        browser.get(server.issuer + "/logout")
        wait_text(browser, "h1", "Sign out?")
        screenshot(browser, "sign-out")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_text(browser, "h1", "signed out")
        screenshot(browser, "signed-out")
        browser.get(rp.base + "/login?prompt=none")
        assert "login_required" in wait_for(browser, "h1").text

        # A request from an app piauth does not know: an error page, no redirect.
        browser.get(server.issuer + "/authorize?response_type=code&client_id=nobody")
        assert "does not know" in wait_for(browser, "[role=alert]").text
        screenshot(browser, "error")
    finally:
        rp.stop()


def test_every_page_carries_its_protections(server, browser):
    r = requests.get(server.issuer + "/authorize?response_type=code&client_id=nobody", verify=server.cert,
                     timeout=30)
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    # No script runs and no stylesheet but piauth's own loads: the page looks right with
    # only what the binary serves.
    browser.get(server.issuer + "/device")
    wait_for(browser, "#username")
    sheets = browser.execute_script("return [...document.styleSheets].map(s => s.href)")
    assert sheets == [server.issuer + "/pages.css"], sheets
    labels = browser.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden])')]"
        ".every(i => document.querySelector(`label[for=${i.id}]`))")
    assert labels, "every visible field has a label"
    cookies = {c["name"]: c for c in browser.get_cookies()}
    cookie = cookies["__Host-piauth_b"]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    assert json.loads(json.dumps(cookie))["path"] == "/"
