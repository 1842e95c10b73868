"""The browser bridge in a real browser: headless Chromium (Debian's ``chromium``) over its
DevTools protocol (tests/helpers_chromium.py).

One ``sscard service --sim CARD --bridge 0 --demo --allow-origin http://pos.example:P`` and one
browser serve the module.  The browser maps ``pos.example`` and ``evil.example`` to 127.0.0.1
(``--host-resolver-rules``), which is exactly what a DNS-rebinding attacker achieves; a small HTTP
server of the test's own serves a POS page on port P under both names, so the pages have real
origins: ``http://pos.example:P`` (allowed, not paired) and ``http://evil.example:P`` (not
allowed).  Both names resolve to loopback, so Chrome's Local Network Access asks nothing (a
loopback page talking to loopback); every refusal is proved from the service's side (its log
line, and its count of card opens), never from the page's failure alone.

The demo-page test writes ``docs/bridge-demo.png`` (the README shows it).
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator

import pytest

from tests.helpers_bridge import RunningBridge, running_bridge
from tests.helpers_chromium import Browser, Tab, chromium
from tests.helpers_national import REPO, card_file

SCREENSHOT = REPO / "docs" / "bridge-demo.png"
#: Longest wait for a log line of the service (a bound on a failure, not a pause).
LOG_TIMEOUT = 90.0

# A POS page: opens the WebSocket named in ?ws=, reads the card once connected (and again when
# the operator approves the pairing), and writes what happened into <body data-*>.
_POS_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>POS</title></head>
<body data-state="start"><p id="name"></p>
<script>
"use strict";
const body = document.body;
const ws = new WebSocket(new URLSearchParams(location.search).get("ws"));
const read = (id) => ws.send(JSON.stringify({type: "read", id: id}));
ws.onopen = () => { body.dataset.state = "open"; read(1); };
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  if (msg.type === "pairing_required") {
    body.dataset.pairing = msg.code;
  } else if (msg.type === "paired") {
    body.dataset.paired = "yes"; read(2);
  } else if (msg.type === "read" && msg.ok) {
    document.getElementById("name").textContent = msg.result.card.name;
    body.dataset.read = "ok";
  }
};
ws.onerror = () => { body.dataset.error = "yes"; };
ws.onclose = (e) => { body.dataset.closed = String(e.code); };
</script></body></html>
"""


_FIXED_CLOCK = "Date.prototype.toLocaleTimeString = function () { return '09:30:00'; };"


class _Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the library's name
        if urllib.parse.urlsplit(self.path).path != "/pos.html":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(_POS_PAGE)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(_POS_PAGE)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def pages() -> Iterator[int]:
    """The POS page's server on 127.0.0.1; its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(30)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory, pages: int) -> Iterator[RunningBridge]:
    tmp = tmp_path_factory.mktemp("bridge-browser")
    card = card_file(tmp, 3)
    args = ["--sim", str(card), "--bridge", "0", "--demo",
            "--allow-origin", f"http://pos.example:{pages}"]
    with running_bridge(tmp, args) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    rules = "MAP pos.example 127.0.0.1, MAP evil.example 127.0.0.1"
    extra = [f"--host-resolver-rules={rules}",
             "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"]
    with chromium(profile, extra) as b:
        yield b


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    t = browser.new_tab()
    try:
        yield t
    finally:
        t.close()


def pos_url(pages: int, page_host: str, ws: str) -> str:
    return f"http://{page_host}:{pages}/pos.html?" + urllib.parse.urlencode({"ws": ws})


def dataset(tab: Tab) -> dict[str, str]:
    value = tab.evaluate("JSON.stringify(Object.assign({}, document.body.dataset))")
    out = json.loads(value)
    assert isinstance(out, dict)
    return out


def test_demo_page_reads_the_simulated_card_and_shows_the_holder(bridge: RunningBridge,
                                                                 tab: Tab) -> None:
    # a fixed clock for the page's event times, so the screenshot is the same on every run
    tab.send("Page.addScriptToEvaluateOnNewDocument", {"source": _FIXED_CLOCK})
    assert tab.goto(f"http://127.0.0.1:{bridge.port}/") == 200
    tab.wait_for("document.body.dataset.state === 'ready' && document.body.dataset.card === 'true'")
    assert tab.text("reader-state") == "card present 已插卡"
    tab.click("btn-read")
    tab.wait_for("document.body.dataset.lastOp === 'read:ok'")
    assert tab.text("holder-name") == "张三丰"
    assert tab.text("holder-ssn") == "420102198505151238"
    assert tab.text("card-version") == "3.00"
    assert tab.evaluate("document.getElementById('photo').decode().then(() => "
                        "document.getElementById('photo').naturalWidth)", await_promise=True) > 0
    tab.screenshot(SCREENSHOT)
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    line = bridge.svc.wait_log(f"origin=http://127.0.0.1:{bridge.port} type=read reader=contact "
                               "result=ok", LOG_TIMEOUT)
    assert "ms=" in line
    tab.click("btn-check")
    tab.wait_for("document.body.dataset.lastOp === 'check:ok'")
    assert tab.text("verdict") == "check: OK"


def test_page_from_a_non_allowed_origin_is_refused_before_any_card_access(
        bridge: RunningBridge, pages: int, tab: Tab) -> None:
    opened = bridge.card_opened()
    tab.goto(pos_url(pages, "evil.example", f"ws://127.0.0.1:{bridge.port}/"))
    tab.wait_for("document.body.dataset.closed !== undefined")
    seen = dataset(tab)
    assert seen["state"] == "start" and "pairing" not in seen and "read" not in seen
    bridge.svc.wait_log(f"bridge refused status=403 reason=Origin 'http://evil.example:{pages}' "
                        "is not allowed request=websocket /", LOG_TIMEOUT)
    assert bridge.card_opened() == opened


def test_allowed_but_unpaired_origin_sees_pairing_required_until_approved(
        bridge: RunningBridge, pages: int, tab: Tab) -> None:
    origin = f"http://pos.example:{pages}"
    opened = bridge.card_opened()
    tab.goto(pos_url(pages, "pos.example", f"ws://127.0.0.1:{bridge.port}/"))
    tab.wait_for("document.body.dataset.pairing !== undefined")
    code = dataset(tab)["pairing"]
    assert len(code) == 6 and code.isdigit()
    assert code in bridge.svc.wait_log(f"bridge: pairing request from {origin}", LOG_TIMEOUT)
    bridge.svc.wait_log(f"origin={origin} type=read result=pairing_required", LOG_TIMEOUT)
    assert bridge.card_opened() == opened and "read" not in dataset(tab)
    try:  # the operator compares the code and approves: the page reads at once
        done = bridge.cli("approve", code)
        assert done.returncode == 0, done.stderr
        tab.wait_for("document.body.dataset.read === 'ok'")
        assert tab.text("name") == "张三丰" and dataset(tab)["paired"] == "yes"
    finally:
        bridge.cli("revoke", origin)


def test_foreign_host_dns_rebinding_is_refused(bridge: RunningBridge, pages: int,
                                               tab: Tab) -> None:
    opened = bridge.card_opened()
    refused = f"bridge refused status=403 reason=forbidden Host 'evil.example:{bridge.port}'"
    # the attacker's name rebound to 127.0.0.1 cannot even load the demo page
    assert tab.goto(f"http://evil.example:{bridge.port}/") == 403
    bridge.svc.wait_log(f"{refused} request=http /", LOG_TIMEOUT)
    # nor open the WebSocket through that name, even from an allowed origin's page
    tab.goto(pos_url(pages, "pos.example", f"ws://evil.example:{bridge.port}/"))
    tab.wait_for("document.body.dataset.closed !== undefined")
    assert dataset(tab)["state"] == "start"
    bridge.svc.wait_log(f"{refused} request=websocket / origin=http://pos.example:{pages}",
                        LOG_TIMEOUT)
    assert bridge.card_opened() == opened
