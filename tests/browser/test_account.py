"""One-time codes and the account page in a real browser (headless Chromium): set up from
the account page with the key read off the page and codes computed by pyotp, a sign-in to
an app that asks for a code, a recovery code, and an app that requires a second factor of a
person who has none. Each new page screenshotted at a phone's and a desktop's width."""

import base64
import json
import time

import pyotp
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import screenshot
from test_pages import RelyingParty, wait_for, wait_text


def id_claims(tokens):
    payload = tokens["id_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def go_on(browser):
    """The link or button that goes on after a page that interrupted a sign-in."""
    browser.find_element(By.XPATH, "//*[self::a or self::button][contains(translate(., 'C', 'c'), 'continue')]").click()


def sign_in(browser, user, password):
    wait_for(browser, "#username").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password, Keys.ENTER)


def test_a_person_sets_up_one_time_codes_and_signs_in_to_an_app_with_them(server, browser):
    server.admin("user", "add", "erin", "--name", "Erin", "--password-stdin",
                 stdin="erin's password\n")
    server.admin("client", "add", "photos", "--public", "--scope", "openid", "--scope", "profile",
                 "--redirect-uri", "http://127.0.0.1/cb")
    rp = RelyingParty(server, "photos")
    try:
        browser.get(server.url + "/account")
        sign_in(browser, "erin", "erin's password")
        wait_text(browser, "h1", "Your account")
        screenshot(browser, "account")
        browser.find_element(By.XPATH, "//button[text()='Set up one-time codes']").click()
        wait_for(browser, "figure.qr svg")
        screenshot(browser, "totp-setup")
        secret = browser.find_element(By.ID, "secret").text.replace(" ", "")
        totp = pyotp.TOTP(secret)
        # The link for an authenticator app on this phone holds the same key.
        link = browser.find_element(By.PARTIAL_LINK_TEXT, "authenticator app").get_attribute("href")
        assert pyotp.parse_uri(link).secret == secret
        browser.find_element(By.ID, "code").send_keys(totp.now(), Keys.ENTER)
        wait_for(browser, "#recovery-codes")
        codes = [li.text.lower() for li in browser.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
        assert len(codes) == 10
        screenshot(browser, "recovery-codes")
        go_on(browser)
        wait_text(browser, "body", "One-time codes are on")

        # Another browser signs in to the app: the password, then a code.
        browser.delete_all_cookies()
        browser.get(rp.base + "/login")
        sign_in(browser, "erin", "erin's password")
        wait_for(browser, "#code")
        screenshot(browser, "second-factor")
        # The set-up spent this step's code; the next one is taken too (a clock a step off).
        browser.find_element(By.ID, "code").send_keys(totp.at(time.time() + 30), Keys.ENTER)
        wait_for(browser, "button[value=allow]").click()
        assert wait_for(browser, "#who").text == "Signed in as Erin"
        claims = id_claims(rp.last_tokens)
        assert claims["amr"] == ["pwd", "otp", "mfa"], claims

        # A lost phone: a recovery code instead, once.
        browser.delete_all_cookies()
        browser.get(rp.base + "/login?prompt=login&acr_values=mfa")
        sign_in(browser, "erin", "erin's password")
        wait_for(browser, "#code").send_keys(codes[0].upper(), Keys.ENTER)
        wait_text(browser, "body", "9 recovery codes are left")
        screenshot(browser, "recovery-code-used")
        go_on(browser)
        assert wait_for(browser, "#who").text == "Signed in as Erin"
        assert id_claims(rp.last_tokens)["acr"] == "mfa"
    finally:
        rp.stop()


def test_an_app_that_requires_a_second_factor_leads_a_person_without_one_to_set_it_up(server, browser):
    server.admin("user", "add", "fred", "--name", "Fred", "--password-stdin", stdin="fred's password\n")
    server.admin("client", "add", "vault", "--public", "--scope", "openid", "--scope", "profile",
                 "--redirect-uri", "http://127.0.0.1/cb", "--require-second-factor")
    rp = RelyingParty(server, "vault")
    try:
        browser.get(rp.base + "/login")
        sign_in(browser, "fred", "fred's password")
        wait_for(browser, "figure.qr svg")
        secret = browser.find_element(By.ID, "secret").text.replace(" ", "")
        browser.find_element(By.ID, "code").send_keys("000000" if pyotp.TOTP(secret).now() != "000000"
                                                      else "111111", Keys.ENTER)
        wait_text(browser, "[role=alert]", "does not match")
        secret_after = browser.find_element(By.ID, "secret").text.replace(" ", "")
        assert secret_after == secret, "the same key, to try again"
        browser.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).now(), Keys.ENTER)
        wait_for(browser, "#recovery-codes")
        go_on(browser)
        wait_for(browser, "button[value=allow]").click()
        assert wait_for(browser, "#who").text == "Signed in as Fred"
        assert "mfa" in id_claims(rp.last_tokens)["amr"]
    finally:
        rp.stop()
