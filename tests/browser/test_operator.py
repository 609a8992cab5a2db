"""The operator's pages in a real browser (headless Chromium): an operator registers an app
and signs a person in to it with the configuration block the page gives; adds a person, who
enrolls with the link; lets them in to the app by a group; ends a session, after which the
device's refresh fails; rotates a key. A person who is not an operator is refused on every
page, and a form from another origin changes nothing. Each page screenshotted at a phone's
and a desktop's width."""

import http.server
import threading

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import screenshot
from test_pages import RelyingParty, wait_for, wait_text

PAGES = ["/operator", "/operator/clients", "/operator/people", "/operator/keys",
         "/operator/sessions", "/operator/events"]


def sign_in(browser, user, password):
    wait_for(browser, "#username").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password, Keys.ENTER)


def operator(browser, server, path="/operator"):
    browser.delete_all_cookies()
    browser.get(server.url + path)
    sign_in(browser, "root", "root's password")
    wait_for(browser, "nav.menu")


def field(browser, css, text):
    el = browser.find_element(By.CSS_SELECTOR, css)
    el.clear()
    el.send_keys(text)


def block_value(block, name):
    """A `name: value` line of the generic configuration block."""
    for line in block.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} in {block}")


def live_keys(server):
    # The RS256 ID-token key is made in the background at first start: wait for it.
    server.wait_log(r"ID tokens: RS256 key", 60)
    return {k["kid"] for k in requests.get(server.url + "/jwks.json", verify=server.cert, timeout=30).json()["keys"]}


def test_an_operator_manages_apps_people_groups_sessions_and_keys_from_the_pages(server, browser):
    server.admin("user", "add", "root", "--admin", "--password-stdin", stdin="root's password\n")
    rp = RelyingParty(server, "")
    try:
        # An app, registered on the page, for the family only.
        operator(browser, server, "/operator/clients")
        screenshot(browser, "operator-apps-empty")
        field(browser, "#id", "photos")
        browser.find_element(By.CSS_SELECTOR, "#kind option[value=public]").click()
        field(browser, "#redirect_uris", rp.redirect_uri)
        field(browser, "#scope", "openid profile")
        field(browser, "#allowed_groups", "family")
        browser.find_element(By.CSS_SELECTOR, "#app option[value=other]").click()
        browser.find_element(By.XPATH, "//button[text()='Register']").click()
        block = wait_for(browser, "pre[data-config]").text
        screenshot(browser, "operator-app-registered")
        assert block_value(block, "issuer") == server.issuer
        assert block_value(block, "redirect_uri") == rp.redirect_uri
        # The relying party takes what the block says.
        rp.client_id = block_value(block, "client_id")
        assert rp.client_id == "photos"

        # A person, added with a link: the operator never types their password.
        browser.get(server.url + "/operator/people")
        field(browser, "#name", "dana")
        field(browser, "#display_name", "Dana")
        browser.find_element(By.XPATH, "//button[text()='Add and make a link']").click()
        link = wait_for(browser, "code[data-once='Enrollment link']").text
        assert link.startswith(server.issuer + "/enroll?")

        # Dana enrolls in her own browser, and is kept out of the family's app.
        browser.delete_all_cookies()
        browser.get(link)
        wait_for(browser, "#new_password").send_keys("dana's own password")
        browser.find_element(By.ID, "confirm").send_keys("dana's own password", Keys.ENTER)
        wait_text(browser, "body", "You are signed in")
        browser.get(rp.base + "/login")
        wait_text(browser, "h1", "You may not use photos")
        # Nor may she open the operator's pages.
        for path in PAGES:
            browser.get(server.url + path)
            wait_text(browser, "body", "These pages are for the operator")

        # The operator puts her in the family.
        operator(browser, server, "/operator/people")
        details = browser.find_element(By.XPATH, "//details[summary/strong[text()='dana']]")
        details.find_element(By.TAG_NAME, "summary").click()
        groups = details.find_element(By.NAME, "groups")
        groups.clear()
        groups.send_keys("family")
        details.find_element(By.XPATH, ".//button[text()='Save dana']").click()
        wait_text(browser, "p.notice", "The person was changed")
        wait_text(browser, "table", "family")
        screenshot(browser, "operator-people")

        # Now she gets in, and the app holds a refresh token.
        browser.delete_all_cookies()
        browser.get(rp.base + "/login")
        sign_in(browser, "dana", "dana's own password")
        wait_for(browser, "button[value=allow]").click()
        assert wait_for(browser, "#who").text == "Signed in as Dana"
        refresh = rp.last_tokens["refresh_token"]

        # The operator ends that session: the app's next refresh fails.
        operator(browser, server, "/operator/sessions")
        wait_text(browser, "table", "photos")
        screenshot(browser, "operator-sessions")
        browser.find_element(By.CSS_SELECTOR, "button[aria-label=\"End dana's session of photos\"]").click()
        wait_text(browser, "p.notice", "The session was ended")
        r = requests.post(server.url + "/token", verify=server.cert, timeout=30, data={
            "grant_type": "refresh_token", "refresh_token": refresh, "client_id": "photos"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text

        # A staged rotation: the new key is published at once, and shown as next.
        before = live_keys(server)
        browser.get(server.url + "/operator/keys")
        browser.find_element(By.XPATH, "//button[text()='Rotate (staged)']").click()
        wait_text(browser, "p.notice", "A new key was made")
        wait_text(browser, "table", "next")
        screenshot(browser, "operator-keys")
        after = live_keys(server)
        assert before < after, (before, after)

        # The audit trail, filtered to the operator's own changes.
        browser.get(server.url + "/operator/events?user=root&outcome=ok")
        wait_text(browser, "table", "admin:key_rotate")
        rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert rows and all("root" in r.text for r in rows)
        assert any("admin:client_add" in r.text for r in rows)
        screenshot(browser, "operator-events")
        browser.get(server.url + "/operator/clients")
        browser.find_element(By.CSS_SELECTOR, "details summary").click()
        screenshot(browser, "operator-apps")
    finally:
        rp.stop()


def test_a_form_from_another_origin_changes_nothing(server, browser):
    server.admin("user", "add", "root", "--admin", "--password-stdin", stdin="root's password\n")

    class Evil(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            page = (f'<form id=f method=post action="{server.url}/operator/keys">'
                    '<input name=action value=key_rotate_now><input name=confirm value=on>'
                    '</form><script>document.getElementById("f").submit()</script>')
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page.encode())

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        before = live_keys(server)
        operator(browser, server)
        browser.get(f"http://127.0.0.1:{evil.server_address[1]}/")
        # Refused for coming from another site (Sec-Fetch-Site), or for having no form token.
        WebDriverWait(browser, 20).until(lambda d: any(
            words in d.find_element(By.TAG_NAME, "body").text
            for words in ("cannot change piauth", "did not come from this browser")))
        assert live_keys(server) == before
        # Its own page's forms still work.
        browser.get(server.url + "/operator/keys")
        browser.find_element(By.XPATH, "//button[text()='Rotate (staged)']").click()
        wait_text(browser, "p.notice", "A new key was made")
    finally:
        evil.shutdown()
