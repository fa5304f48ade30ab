"""Headless Chromium driven over the DevTools protocol, for tests that need a real browser.

Only what the report tests need: open a page, collect console errors, uncaught exceptions and
every request the page makes, evaluate JavaScript, take a full-page screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

INSTALL = "install Debian's chromium package (apt-get install chromium)"
# Set by .ci/run: there a missing browser fails the test instead of skipping it.
REQUIRED = "COVENANT_MONITOR_REQUIRE_CHROMIUM"
FLAGS = [
    "--headless",
    "--no-sandbox",  # tests run as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]


def executable() -> str:
    """The Chromium binary, or a skip (a failure where .ci/run requires it)."""
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if found:
        return found
    if os.environ.get(REQUIRED):
        pytest.fail(f"Chromium not found and {REQUIRED} is set: {INSTALL}")
    pytest.skip(f"Chromium not found: {INSTALL} to run the browser tests")


class Page:
    """One tab of a headless Chromium started for the test and stopped after it."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 900):
        self.process, port = _started(profile)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        page = next(t for t in targets if t["type"] == "page")
        self.closing = contextlib.ExitStack()
        self.socket = self.closing.enter_context(
            connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        )
        self.ids = itertools.count(1)
        self.errors: list[str] = []
        self.requests: list[str] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.closing.close()
        self.process.terminate()
        self.process.wait(timeout=10)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = self._receive(timeout=30)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def open(self, url: str) -> None:
        """Navigate and wait for the load event, recording what happens on the way."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._receive(timeout=30).get("method") == "Page.loadEventFired":
                self.evaluate("1")  # let the events queued before the load event arrive
                return
        raise TimeoutError(f"{url} did not finish loading")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def _receive(self, timeout: float) -> dict[str, Any]:
        message = json.loads(self.socket.recv(timeout=timeout))
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a)) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        return message


def _started(profile: Path) -> tuple[subprocess.Popen, int]:
    """Chromium on this profile, and its DevTools port. A start that has not listened within
    30 s is stopped and made once more, on a profile of its own (it happened once in CI, on a
    machine under load): what is under test is the report, not how fast Chromium starts."""
    try:
        return _start(profile)
    except TimeoutError:
        return _start(profile.with_name(f"{profile.name}-again"))


def _start(profile: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [executable(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, _wait_for_port(profile / "DevToolsActivePort", process)


def _wait_for_port(path: Path, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text().split("\n"))[0]:
            return int(text[0])
        if process.poll() is not None:
            raise RuntimeError(f"Chromium exited with {process.returncode} before it listened")
        time.sleep(0.05)
    process.kill()
    process.wait()  # else the next test meets a ResourceWarning for it, and fails too
    raise TimeoutError("Chromium did not open its DevTools port")
