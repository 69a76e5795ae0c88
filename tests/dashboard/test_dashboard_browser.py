"""The dashboard in a real browser (Debian's chromium + chromium-driver through selenium, headless), against
a real registry and a real gateway: a viewer logs in with a token and sees the model and its split but no
controls (and a forged POST from the page is refused); no token shows the login form and no data; an
operator logs in through the form, changes a weight (confirmed) and the gateway then routes accordingly,
with the audit log naming the operator. A screenshot of each page at 1280 px and at a phone's width is
written under the test's temporary directory.

One browser session for the module. Skips where chromium or chromedriver is missing; fails in CI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from driftgate.proto.inference import grpc_service_pb2 as pb
from driftgate.proto.inference import grpc_service_pb2_grpc
from tests.conftest import wait_ready
from tests.dashboard.dashboard_helpers import Dashboard, start_dashboard
from tests.requirements import require

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
DESKTOP = (1280, 900)
PHONE = (390, 844)


@dataclass
class Stack:
    dash: Dashboard
    gateway: str
    shots: Path

    def infer(self, rows: int = 1, request_id: str = "") -> pb.ModelInferResponse:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(self.gateway))
        request = pb.ModelInferRequest(model_name="fraud", id=request_id)
        request.inputs.add(name="transaction", datatype="FP32", shape=[rows, 4])
        x = np.random.default_rng(len(request_id)).normal(size=(rows, 4)).astype(np.float32)
        request.raw_input_contents.append(x.tobytes())
        return stub.ModelInfer(request, timeout=10)


def _start_gateway(home: Path) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "driftgate", "--home", str(home), "gateway", "--host", "127.0.0.1",
            "--port", "0", "--metrics-port", "-1"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    for line in process.stdout:
        if m := re.search(r"gateway listening on (\S+)", line):
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
            return process, m.group(1)
    process.kill()
    raise RuntimeError("the gateway did not start")


def _wait(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require(CHROMIUM is not None and CHROMEDRIVER is not None,
            "no chromium/chromedriver (apt-get install chromium chromium-driver)")
    base = Path(tmp_path_factory.mktemp("dashboard-browser"))
    for dash in start_dashboard(base / "home"):
        gateway, address = _start_gateway(dash.home)
        try:
            wait_ready(address, 120)
            stack = Stack(dash, address, base / "screenshots")
            stack.shots.mkdir()
            for i in range(150):  # traffic for the counters, the drift windows and the scored rows
                stack.infer(4, f"req-{i}")

            def ready(dash: Dashboard = dash) -> bool:
                gws = dash.server.gateways.live()
                return bool(gws) and all(gw.state_of("fraud", v) is not None and
                                         gw.state_of("fraud", v).state == "READY"  # type: ignore[union-attr]
                                         for gw in gws for v in (1, 2))

            _wait(ready, "both versions READY on the gateway")
            yield stack
        finally:
            gateway.terminate()
            try:
                gateway.wait(30)
            except subprocess.TimeoutExpired:
                gateway.kill()


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _shoot(driver: Any, stack: Stack, name: str) -> None:
    """Full-page screenshots at the desktop and the phone width."""
    for label, (w, h) in (("1280", DESKTOP), ("phone", PHONE)):
        driver.set_window_size(w, h)
        time.sleep(0.3)  # let the charts redraw at the new width
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(w, min(max(h, int(height) + 140), 6000))
        time.sleep(0.2)
        path = stack.shots / f"{name}-{label}.png"
        assert driver.save_screenshot(str(path)), path
    driver.set_window_size(*DESKTOP)


def _text(driver: Any) -> str:
    return str(driver.find_element("tag name", "body").text)


def test_no_token_shows_the_login_form_and_no_data(stack: Stack, browser: Any) -> None:
    browser.delete_all_cookies()
    browser.get(stack.dash.url + "/models/fraud")
    assert "/login" in browser.current_url
    assert browser.find_elements("id", "login-form")
    assert "fraud" not in _text(browser) and "v2" not in _text(browser)
    _shoot(browser, stack, "login")


def test_viewer_sees_the_model_and_its_split_but_no_controls(stack: Stack, browser: Any) -> None:
    browser.delete_all_cookies()
    browser.get(stack.dash.url + "/?token=" + stack.dash.tokens.token["vera"])
    assert "token=" not in browser.current_url  # exchanged for a cookie, and gone from the URL
    text = _text(browser)
    assert "fraud" in text and "vera" in text and "viewer" in text
    card = browser.find_element("id", "model-fraud")
    assert "v2 100%" in card.text  # latest mode: the newest version takes it all
    assert browser.find_elements("css selector", "#model-fraud .split .bar")
    _shoot(browser, stack, "overview")

    browser.get(stack.dash.url + "/models/fraud")
    _wait(lambda: browser.execute_script("return document.body.getAttribute('data-charts-drawn')"), "charts", 20)
    assert browser.find_elements("css selector", "table.heatmap td")  # the drift heatmap has cells
    assert browser.find_elements("css selector", "#score-charts canvas")  # uPlot drew the score distribution
    assert not browser.find_elements("id", "weights-form") and not browser.find_elements("id", "actions")
    _shoot(browser, stack, "model-viewer")

    # a POST forged from the viewer's own page (cookie and CSRF header included) is refused by the server
    status = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const csrf = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
        fetch('/models/fraud/weights', {method: 'POST', headers: {'X-CSRF-Token': csrf,
              'Content-Type': 'application/x-www-form-urlencoded'}, body: 'w_1=100&confirm=yes&csrf=' + csrf})
          .then(r => done(r.status)).catch(e => done(String(e)));
    """)
    assert status == 403
    assert stack.dash.server.catalogue.get_model("fraud").traffic.mode == "latest"


def test_operator_changes_a_weight_and_the_gateway_routes_accordingly(stack: Stack, browser: Any) -> None:
    assert stack.infer().model_version == "2"
    browser.delete_all_cookies()
    browser.get(stack.dash.url + "/models/fraud")
    assert "/login" in browser.current_url
    browser.find_element("id", "token").send_keys(stack.dash.tokens.token["otto"])
    browser.find_element("id", "login-submit").click()
    _wait(lambda: browser.current_url.endswith("/models/fraud"), "the model page after login", 20)

    for version, weight in ((1, "100"), (2, "0")):
        box = browser.find_element("id", f"weight-{version}")
        box.clear()
        box.send_keys(weight)
    browser.find_element("id", "set-weights").click()
    _wait(lambda: browser.find_elements("id", "confirm-form"), "the confirm step", 20)
    assert "v1=100" in browser.find_element("id", "confirm-what").text
    _shoot(browser, stack, "confirm")
    assert stack.dash.server.catalogue.get_model("fraud").traffic.mode == "latest"  # nothing changed yet
    browser.find_element("id", "reason").send_keys("move everything to v1")
    browser.find_element("id", "confirm-yes").click()
    _wait(lambda: browser.find_elements("id", "notice"), "the result", 20)

    _wait(lambda: all(stack.infer().model_version == "1" for _ in range(20)), "the gateway routing to v1", 60)
    _shoot(browser, stack, "model-operator")

    browser.get(stack.dash.url + "/rollouts?actor=otto")
    events = browser.find_element("id", "events").text
    assert "otto" in events and "fraud traffic" in events and "move everything to v1" in events
    _shoot(browser, stack, "audit")


def test_rollout_timeline_and_an_operator_pauses_it(stack: Stack, browser: Any) -> None:
    dash = stack.dash
    dash.server.controller.rollouts.start("fraud", 1, 2, actor="ada")  # the champion v1 against v2

    def in_canary() -> bool:
        stack.infer(4, "canary")
        r = dash.server.rollout_store.latest_rollout("fraud")
        return r is not None and r.state == "canary" and bool(r.gates)

    _wait(in_canary, "the rollout's first canary step with gate readings", 60)
    browser.get(stack.dash.url + "/models/fraud")  # still the operator's session
    browser.find_element("id", "rollout-pause").click()
    _wait(lambda: browser.find_elements("id", "confirm-form"), "the confirm step", 20)
    browser.find_element("id", "confirm-yes").click()
    _wait(lambda: browser.find_elements("id", "notice"), "the result", 20)
    record = dash.server.rollout_store.latest_rollout("fraud")
    assert record is not None and record.paused

    browser.get(stack.dash.url + "/rollouts?model=fraud")
    section = browser.find_element("id", f"rollout-{record.id}").text
    assert "score PSI" in section and "error rate" in section  # each gate against its threshold
    assert "rollout_paused" in section and "otto" in section
    _shoot(browser, stack, "rollouts")
    dash.server.controller.rollouts.abort("fraud", "ada", "end of the test")
