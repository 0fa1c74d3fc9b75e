"""/docs in a real headless Chromium with every outside host unreachable: Swagger UI works."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.api_harness import serving
from tests.bot_harness import copy_seeded
from tests.test_api import api_settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER), reason="Debian's chromium and chromium-driver are not installed"
    ),
]
ENDPOINTS = {"/health", "/predict", "/candidates", "/artists/{name}", "/record", "/feedback"}


@pytest.fixture
def browser():
    """Headless Chromium that can reach 127.0.0.1 only (no CDN could serve anything)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",  # anything not on loopback fails
        "--proxy-bypass-list=127.0.0.1",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_swagger_ui_lists_endpoints_and_tries_health(browser, seeded: Path, tmp_path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    data_dir = copy_seeded(seeded, tmp_path / "data")
    with serving(api_settings(data_dir)) as url:
        browser.get(f"{url}/docs")
        wait = WebDriverWait(browser, 60)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
        paths = {
            e.get_attribute("data-path")
            for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
        }
        assert paths >= ENDPOINTS
        assert "Breakout Artists" in browser.find_element(By.CSS_SELECTOR, ".title").text
        health = browser.find_element(By.ID, "operations-default-health_health_get")
        health.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
        wait.until(lambda _: health.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
        health.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
        wait.until(lambda _: health.find_elements(By.CSS_SELECTOR, ".execute"))
        health.find_element(By.CSS_SELECTOR, ".execute").click()
        status = wait.until(
            lambda _: health.find_elements(
                By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"
            )
        )
        assert status[0].text.strip() == "200"
        body = health.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
        assert '"status": "ok"' in body
