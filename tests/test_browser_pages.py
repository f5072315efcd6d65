"""The demo page and the evaluation report in headless Chromium: the video plays, a click on a timeline
segment seeks to its start, the report's pictures load. Skipped where Chromium, its driver or selenium
is missing (Debian: ``apt-get install chromium chromium-driver``; ``pip install selenium``)."""
import json
import os
import shutil
import tempfile
import time

import pytest

from woo.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through selenium and the system's chromedriver (nothing is downloaded)."""
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("Chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="woo-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1200,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, script, timeout=20.0):
    """Run ``script`` (returning a value) until it is truthy; return that value."""
    end = time.monotonic() + timeout
    while True:
        result = driver.execute_script(script)
        if result or time.monotonic() > end:
            return result
        time.sleep(0.1)


def screenshot(driver, path):
    assert driver.save_screenshot(str(path))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_demo_page_plays_and_seeks(browser, trained, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in sorted(os.listdir(trained["frames_dir"]))[:120]:
        shutil.copy(os.path.join(trained["frames_dir"], name), frames)
    out = tmp_path / "out"
    assert main(["demo", "--config-file", INSTANT, "--input", str(frames), "--fps", "30", "--output", str(out),
                 "--score-thresh", "0.2", "MODEL.WEIGHTS", trained["weights"]]) == 0
    doc = json.loads((out / "tracks.json").read_text())
    browser.get((out / "index.html").as_uri())
    drawn = browser.execute_script("return document.querySelectorAll('#timeline-svg rect.segment').length")
    assert drawn == sum(len(t["segments"]) for t in doc["tracks"]) > 0

    # The H.264 video really plays: its clock advances.
    state = wait_for(browser, "const v = document.getElementById('player'); return v.readyState >= 2 && "
                              "[v.duration, v.error && v.error.code];")
    assert state and state[1] is None and state[0] == pytest.approx(doc["duration"], abs=0.1)
    browser.execute_script("document.getElementById('player').play();")
    assert wait_for(browser, "return document.getElementById('player').currentTime > 0.3;")
    cursor = browser.execute_script("return +document.querySelector('#timeline-svg .cursor').getAttribute('x1');")
    assert cursor > 52  # it left the time-0 position with playback

    # A click on a segment seeks to its start.
    browser.execute_script("const v = document.getElementById('player'); v.pause(); v.currentTime = v.duration - 0.05;")
    wait_for(browser, "return document.getElementById('player').currentTime > 3.5;")
    segment = max(browser.find_elements("css selector", "#timeline-svg rect.segment"),
                  key=lambda e: float(e.get_attribute("width")))
    start = float(segment.get_attribute("data-start"))
    assert start < doc["duration"] - 0.5
    segment.click()
    seeked = wait_for(browser, f"const t = document.getElementById('player').currentTime; "
                               f"return Math.abs(t - {start}) < 0.05 && t;")
    assert seeked is not False and seeked == pytest.approx(start, abs=0.05)

    # Hovering shows the segment's label, span and mean score.
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).move_to_element(segment).perform()
    tip = browser.find_element("id", "tooltip")
    assert tip.is_displayed() and tip.text.startswith(f"{segment.get_attribute('data-label')}: {start:.2f}")
    assert "mean score" in tip.text
    screenshot(browser, tmp_path / "demo_page.png")


def test_evaluation_report_loads_its_pictures(browser, tmp_path):
    golden = os.path.join(REPO, "tests", "data", "ava_golden", "case3")
    report = tmp_path / "report"
    assert main(["ava-eval", "--labelmap", os.path.join(golden, "labelmap.pbtxt"), "--groundtruth",
                 os.path.join(golden, "groundtruth.csv"), "--detections", os.path.join(golden, "detections.csv"),
                 "--report", str(report)]) == 0
    browser.get((report / "index.html").as_uri())
    loaded = wait_for(browser, "const images = [...document.images]; return images.length && "
                               "images.every((i) => i.complete && i.naturalWidth > 0) && images.length;")
    assert loaded == 3
    screenshot(browser, tmp_path / "report.png")
