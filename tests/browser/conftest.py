"""Headless Chromium (Debian's chromium and chromedriver) and a real `piauth serve` over
HTTPS, for the page tests; a small relying party on loopback for the code flow."""

import os
import sys
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "lib"))
from piauthproc import Piauth  # noqa: E402

BIN = os.environ.get("PIAUTH_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "piauth"))
# Where screenshots go: target/screenshots, or docs/screenshots to refresh the README's.
SHOTS = os.environ.get("PIAUTH_SCREENSHOTS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "target", "screenshots"))


@pytest.fixture
def server():
    d = tempfile.TemporaryDirectory()
    s = Piauth(os.path.join(d.name, "data"), ["--tls", "on"], binary=BIN, timeout=60,
               config="argon2_memory_kib = 1024\nargon2_iterations = 1\nmetrics = true\n")
    s.issuer = s.url
    cert = os.path.join(d.name, "piauth.crt")
    with open(cert, "w") as f:
        f.write(s.admin("tls", "cert"))
    s.cert = cert
    yield s
    s.stop()
    d.cleanup()


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                # piauth's self-signed certificate: TLS itself is tested elsewhere; here the
                # pages must work over HTTPS (Secure, __Host- cookies).
                "--ignore-certificate-errors", "--window-size=1280,900", "--lang=en-US"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def screenshot(driver, name):
    """The whole page at a phone's width (390 CSS px) and a desktop's (1280), as PNGs."""
    os.makedirs(SHOTS, exist_ok=True)
    for label, width, mobile in [("phone", 390, True), ("desktop", 1280, False)]:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": mobile})
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": max(height, 400), "deviceScaleFactor": 1,
                                "mobile": mobile})
        driver.save_screenshot(os.path.join(SHOTS, f"{name}-{label}.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
