"""``rollout dashboard`` in a real browser: Debian's headless Chromium driven by Selenium
through chromium-driver, against the emulator, a real Prometheus and the controller.

The page loads with a rollout in progress, its charts carry as many points as the
dashboard's own series say, the weight on the page moves when the controller promotes
a step, Abort (confirmed) writes the abort command and the page shows RolledBack within
2 s, and a request without the token, from another origin, without the CSRF header or
for another Host is refused with nothing written. After a release promoted to 100%, Undo
(confirmed) writes ``rollout undo``'s command and the page shows Undone. With
``DASHBOARD_SCREENSHOT=PATH`` (``make screenshot``) the rollout page's screenshot is saved
there for the README.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshlab.kubeapi.deployments import DeploymentController
from meshlab.seed import NS
from tests.conftest import IN_CI
from tests.e2e.harness import ROOT, Stack

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1000,2300",
)


def need_chromium() -> None:
    """Chromium and its driver from Debian (``make system-deps``), or fail (CI) / skip."""
    missing = [p for p in (CHROMIUM, DRIVER) if not Path(p).exists()]
    if missing:
        message = f"missing {', '.join(missing)}: apt-get install chromium chromium-driver"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium, closed after the test."""
    need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def start_dashboard(stack: Stack) -> tuple[subprocess.Popen[str], str]:
    """``rollout dashboard`` as a user runs it; the URL it prints once."""
    argv = [sys.executable, "-m", "rollout", "dashboard", "-n", NS]
    argv += ["--kubeconfig", str(stack.kubeconfig), "--prometheus-url", stack.prometheus.url]
    proc = subprocess.Popen(
        [*argv, "--rate-window", "5s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("dashboard: http://127.0.0.1:"), line
    return proc, line.split()[1]


def request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of one request."""
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def count(driver: Any, selector: str) -> int:
    return int(driver.execute_script(f"return document.querySelectorAll({selector!r}).length"))


def text(driver: Any, selector: str) -> str:
    return str(driver.execute_script(f"return document.querySelector({selector!r}).textContent"))


def test_dashboard_in_a_browser(stack: Stack, browser: Any, tmp_path: Path) -> None:
    """List and rollout pages live in Chromium: points, a moving weight, Abort → RolledBack
    within 2 s; requests without the token or from elsewhere refused, nothing written."""
    # A canary a little better than stable: two lines to tell apart, and nothing that makes
    # the default (sequential) judge hold a step for evidence.
    stack.traffic.set_health("v2", error_rate=0.0045, median_ms=18.0)
    stack.start_controller()
    started = stack.cli(
        "start", "inventory", "v2", "--steps", "10,30,60,100", "--step-duration", "6s"
    )
    assert started.returncode == 0, started.stderr
    stack.wait_for(lambda: stack.status().get("canaryWeight") == 10, what="the first step")
    proc, url = start_dashboard(stack)
    try:
        base, token = url.split("/?token=")
        api = f"{base}/api/rollouts/{NS}/inventory"

        # The list page shows the rollout, live; its link opens the rollout page.
        browser.get(url)
        stack.wait_for(lambda: count(browser, "#rollouts tr[data-rollout]") == 1, what="list")
        assert "Progressing" in text(browser, "#rollouts")
        browser.find_element("link text", "inventory").click()
        stack.wait_for(lambda: count(browser, "#weight-chart svg") == 1, what="rollout page")
        first = text(browser, "#weight")

        # The weight moves on the page when the controller promotes a step.
        stack.wait_for(lambda: text(browser, "#weight") != first, timeout=40, what="a promotion")
        assert stack.status()["canaryWeight"] >= 30
        stack.wait_for(lambda: count(browser, "#evaluations tr") > 2, what="evaluations")
        stack.wait_for(
            lambda: count(browser, "#error-chart circle.dot") > 3, what="Prometheus points"
        )
        if os.environ.get("DASHBOARD_SCREENSHOT"):
            height = browser.execute_script("return document.body.scrollHeight")
            browser.set_window_size(1000, int(height) + 160)  # + the browser frame
            browser.save_screenshot(os.environ["DASHBOARD_SCREENSHOT"])
        browser.save_screenshot(str(tmp_path / "progressing.png"))

        # Refused: no token, a wrong one, another origin, no CSRF header, another Host.
        before = stack.rollout()["spec"].get("command")
        good = {"Origin": base, "X-Rollout-CSRF": "1", "X-Rollout-Token": token}
        abort = f"{api}/abort"
        assert request(f"{base}/api/rollouts")[0] == 403
        assert request(f"{base}/api/rollouts?token=x{token}")[0] == 403
        assert request(abort, "POST", {**good, "X-Rollout-Token": ""})[0] == 403
        assert request(abort, "POST", {**good, "Origin": "http://evil.example"})[0] == 403
        assert request(abort, "POST", {k: v for k, v in good.items() if k != "Origin"})[0] == 403
        assert request(abort, "POST", {**good, "X-Rollout-CSRF": ""})[0] == 403
        assert request(f"{api}?token={token}", headers={"Host": "evil.example"})[0] == 403
        assert stack.rollout()["spec"].get("command") == before
        assert stack.status()["phase"] == "Progressing"

        # Abort, confirmed: the abort command on the resource, RolledBack on the page in 2 s.
        browser.find_element("id", "do-abort").click()
        browser.switch_to.alert.accept()
        clicked = time.monotonic()
        while "RolledBack" not in text(browser, "h1"):
            assert time.monotonic() - clicked < 2.0, f"page shows {text(browser, 'h1')}"
            time.sleep(0.05)
        assert stack.rollout()["spec"]["command"]["name"] == "abort"
        assert stack.traffic.current_weights().get("v2", 0.0) == 0.0

        # The charts carry the points the dashboard's own series have (the run has ended,
        # so the series no longer change): a dot per decision, a dot per metric value.
        time.sleep(1.5)
        status, body = request(f"{api}?token={token}")
        assert status == 200
        series = body["series"]
        history = [h for h in body["rollout"]["status"]["history"] if h["run"] == 1]
        assert len(series["decisions"]) == len(history) >= 3
        assert count(browser, "#weight-chart circle.dot") == len(history)
        for role in ("canary", "stable"):
            assert series["errors"][role], f"no {role} 5xx series"
        values = sum(
            1 for role in ("canary", "stable") for _, v in series["errors"][role] if v is not None
        )
        assert count(browser, "#error-chart circle.dot") == values
        browser.save_screenshot(str(tmp_path / "rolled-back.png"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_undo_after_a_promotion_in_a_browser(stack: Stack, browser: Any) -> None:
    """A release promoted to 100% by hand: its page says what undo would do and offers
    Undo; confirmed, it writes the undo command by "<user> via dashboard", the page shows
    Undone and v1 gets all the traffic back."""
    pods = DeploymentController(stack.api, ready_after_s=0.5).start()  # v1's pods stay ready
    stack.start_controller()
    started = stack.cli(
        "start", "inventory", "v2", "--steps", "10,30,60,100", "--step-duration", "60s"
    )
    assert started.returncode == 0, started.stderr
    stack.wait_for(lambda: stack.status().get("canaryWeight") == 10, what="the first step")
    assert stack.cli("promote", "inventory", "--full").returncode == 0
    stack.wait_for(lambda: stack.phase() == "Succeeded", what="the promotion to 100%")
    proc, url = start_dashboard(stack)
    try:
        base, token = url.split("/?token=")
        browser.get(f"{base}/r/{NS}/inventory?token={token}")
        stack.wait_for(lambda: count(browser, "#do-undo") == 1, what="the Undo button")
        assert count(browser, "#do-abort") == 0
        assert "rollout undo: 100% back to v1 at once" in text(browser, "#after")

        browser.find_element("id", "do-undo").click()
        browser.switch_to.alert.accept()
        stack.wait_for(lambda: "Undone" in text(browser, "h1"), 30, "Undone on the page")
        command = stack.rollout()["spec"]["command"]
        assert command["name"] == "undo"
        assert command["by"].endswith(" via dashboard")
        assert "undone by " in stack.status()["message"]
        assert count(browser, "#do-undo") == 0
        stack.wait_for(
            lambda: stack.traffic.current_weights().get("v2", 0.0) == 0.0, 10, "v1 serves all"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        pods.stop()
