"""Headless Chromium for the bridge's browser tests, driven over its DevTools protocol (CDP).

Debian's ``chromium`` is started with ``--remote-debugging-port=0`` in a profile directory of the
test's own; the DevTools address is read from the line the browser prints when it listens (an
event, not a guess).  The protocol is JSON over one WebSocket, spoken with the ``websockets``
library the bridge already depends on (no second browser driver to install): commands carry an
``id`` and are answered with it; everything else is an event, kept until a test waits for it.

Pages are waited for, never slept on: :meth:`Tab.wait_for` evaluates a JavaScript condition
inside the page and lets the page resolve the promise when a DOM mutation makes it true (a
``MutationObserver``); the timeouts are only bounds on a failure.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Longest wait for the browser to start, a page to load, or a page's condition.
BROWSER_TIMEOUT = 90.0

_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")

# Resolves when ``cond()`` is true, checking again on every DOM change (bounded by ``ms``).
_WAIT_JS = """
new Promise((resolve, reject) => {
  const cond = () => { try { return Boolean(%s); } catch (e) { return false; } };
  if (cond()) { resolve(true); return; }
  const seen = new MutationObserver(() => {
    if (cond()) { seen.disconnect(); clearTimeout(bound); resolve(true); }
  });
  seen.observe(document, {subtree: true, childList: true, attributes: true,
                          characterData: true});
  const bound = setTimeout(() => { seen.disconnect();
    reject(new Error("condition not met: " + %s)); }, %d);
})
"""


class CdpError(AssertionError):
    """The browser answered a command with an error, or an awaited thing did not happen."""


class Browser:
    """One DevTools connection to the browser; commands and events for every tab on it."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = BROWSER_TIMEOUT) -> dict[str, Any]:
        """One command; its result (events that arrive meanwhile are kept)."""
        mid = next(self._ids)
        message: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        while True:
            got = json.loads(self._ws.recv(timeout=timeout))
            if got.get("id") == mid:
                if "error" in got:
                    raise CdpError(f"{method}: {got['error']}")
                result: dict[str, Any] = got.get("result", {})
                return result
            if "method" in got:
                self._events.append(got)

    def wait_event(self, method: str, session: str | None,
                   match: Callable[[dict[str, Any]], bool] = lambda p: True,
                   timeout: float = BROWSER_TIMEOUT) -> dict[str, Any]:
        """The first kept or coming event ``method`` of ``session`` whose params ``match``."""
        def wanted(e: dict[str, Any]) -> bool:
            return (e.get("method") == method and e.get("sessionId") == session
                    and match(e.get("params", {})))

        for e in self._events:
            if wanted(e):
                self._events.remove(e)
                return dict(e["params"])
        while True:
            got = json.loads(self._ws.recv(timeout=timeout))
            if wanted(got):
                return dict(got["params"])
            if "method" in got:
                self._events.append(got)

    def events(self, method: str, session: str | None) -> list[dict[str, Any]]:
        """The params of the kept events ``method`` of ``session`` (not consumed)."""
        return [e["params"] for e in self._events
                if e.get("method") == method and e.get("sessionId") == session]

    def new_tab(self, width: int = 1000, height: int = 900) -> Tab:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        tab = Tab(self, target, session)
        tab.send("Page.enable")
        tab.send("Runtime.enable")
        tab.send("Network.enable")
        tab.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        return tab


class Tab:
    """One page."""

    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser = browser
        self.target = target
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})

    def goto(self, url: str) -> int | None:
        """Load ``url`` and wait for its load event; the document's HTTP status (None: no
        response, e.g. refused before HTTP)."""
        frame = self.send("Page.navigate", {"url": url})
        if "errorText" in frame:
            raise CdpError(f"navigating to {url}: {frame['errorText']}")
        loader = frame.get("loaderId")
        self.browser.wait_event("Page.loadEventFired", self.session)
        for r in self.browser.events("Network.responseReceived", self.session):
            if r.get("type") == "Document" and r.get("loaderId") == loader:
                return int(r["response"]["status"])
        return None

    def evaluate(self, expression: str, *, await_promise: bool = False,
                 timeout: float = BROWSER_TIMEOUT) -> Any:
        result = self.browser.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": await_promise, "returnByValue": True,
        }, self.session, timeout=timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"in the page: {text}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout: float = BROWSER_TIMEOUT) -> None:
        """Until the JavaScript ``condition`` holds in the page (module docstring)."""
        ms = int(timeout * 1000)
        self.evaluate(_WAIT_JS % (condition, json.dumps(condition), ms), await_promise=True,
                      timeout=timeout + 30)

    def click(self, element_id: str) -> None:
        self.evaluate(f"document.getElementById({json.dumps(element_id)}).click()")

    def text(self, element_id: str) -> str:
        value = self.evaluate(f"document.getElementById({json.dumps(element_id)}).textContent")
        return str(value)

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(base64.b64decode(data))
        os.replace(tmp, path)


@contextmanager
def chromium(profile: Path, extra: Sequence[str] = ()) -> Iterator[Browser]:
    """Headless Chromium with its own ``profile`` directory; stopped (by its PID) at the end."""
    args = [
        CHROMIUM, "--headless", "--remote-debugging-port=0", f"--user-data-dir={profile}",
        "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--no-proxy-server",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
        *(["--no-sandbox"] if os.geteuid() == 0 else []),  # root has no user namespace sandbox
        *extra, "about:blank",
    ]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors="replace")
    found = threading.Event()
    address: list[str] = []
    lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            m = _LISTENING.search(line)
            if m and not address:
                address.append(m.group(1))
                found.set()
        found.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        if not found.wait(BROWSER_TIMEOUT) or not address:
            raise CdpError("chromium did not start:\n" + "\n".join(lines[-20:]))
        with connect(address[0], max_size=None, open_timeout=BROWSER_TIMEOUT) as ws:
            yield Browser(ws)
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        reader.join(10)
