"""The bridge's admission rules as a pure function (``terminal.service.bridge_policy.admit``) and
the check of configured origins: exact matches only, whatever an attacker puts in the headers.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apdu.errors import UsageError
from terminal.service.bridge_policy import admit, check_origin, loopback_hosts

PORT = 31380
POS = "https://pos.example.com"
UPGRADE = {"Upgrade": ["websocket"], "Connection": ["Upgrade"]}


def decide(host: list[str], origin: list[str] | None = None, *, path: str = "/",
           method: str = "GET", upgrade: bool = True, demo: bool = False) -> tuple[str, str]:
    headers: dict[str, list[str]] = {"Host": host, **(UPGRADE if upgrade else {})}
    if origin is not None:
        headers["Origin"] = origin
    d = admit(method, path, lambda name: headers.get(name, []), port=PORT,
              origins=frozenset({POS}), demo=demo)
    return d.kind, d.check


@pytest.mark.parametrize("host", [
    f"evil.example:{PORT}", f"127.0.0.1.evil.example:{PORT}", f"localhost.evil.example:{PORT}",
    f"127.0.0.2:{PORT}", f"127.1:{PORT}", f"0x7f000001:{PORT}", f"2130706433:{PORT}",
    f"LOCALHOST:{PORT}", f"localhost.:{PORT}", f"[::ffff:127.0.0.1]:{PORT}",
    f"[0:0:0:0:0:0:0:1]:{PORT}", f"127.0.0.1:{PORT + 1}", f"127.0.0.1:0{PORT}", "127.0.0.1",
    f"127.0.0.1:{PORT} ", f" 127.0.0.1:{PORT}", f"127.0.0.1:{PORT}@evil.example", "",
])
def test_every_host_but_the_three_exact_loopback_names_is_refused(host: str) -> None:
    assert decide([host], [POS]) == ("refused", "host")


def test_the_three_loopback_names_with_the_port_are_admitted() -> None:
    for host in loopback_hosts(PORT):
        assert decide([host], [POS])[0] == "websocket"
    assert decide([f"localhost:{PORT}", f"localhost:{PORT}"], [POS]) == ("refused", "host")
    assert decide([], [POS]) == ("refused", "host")


@pytest.mark.parametrize("origin", [
    [], ["null"], ["*"], [POS + "/"], [POS.upper()], ["http://pos.example.com"],
    ["https://pos.example.com:443"], ["https://pos.example.com.evil.example"],
    ["https://evil.example/https://pos.example.com"], [POS, POS], [f"http://127.0.0.1:{PORT}"],
])
def test_origins_match_exactly_or_are_refused(origin: list[str]) -> None:
    assert decide([f"127.0.0.1:{PORT}"], origin) == ("refused", "origin")


def test_the_demo_pages_own_origins_only_with_demo() -> None:
    own = f"http://127.0.0.1:{PORT}"
    assert decide([f"127.0.0.1:{PORT}"], [own], demo=True)[0] == "websocket"
    assert decide([f"127.0.0.1:{PORT}"], [f"http://127.0.0.1:{PORT + 1}"], demo=True)[0] == \
        "refused"


def test_nothing_but_the_demo_files_answers_a_plain_get_and_only_get_is_taken() -> None:
    here = [f"127.0.0.1:{PORT}"]
    assert decide(here, upgrade=False, demo=True) == ("page", "")
    assert decide(here, upgrade=False) == ("refused", "path")
    for path in ("/?callback=f", "/demo.js?x", "/index.html", "/../demo.js", "/api/read"):
        assert decide(here, upgrade=False, demo=True, path=path) == ("refused", "path")
    assert decide(here, [POS], path="/ws") == ("refused", "path")
    for method in ("POST", "PUT", "OPTIONS", "get"):
        assert decide(here, [POS], method=method) == ("refused", "method")


@given(st.text(max_size=60))
def test_any_other_host_text_is_refused(host: str) -> None:
    kind, check = decide([host], [POS])
    assert (kind == "websocket") == (host in loopback_hosts(PORT))
    if kind == "refused":
        assert check == "host"


@pytest.mark.parametrize(("origin", "words"), [
    ("*", "no '*'"), ("null", "no 'null'"), ("", "no '*'"),
    ("https://POS.example.com", "lower case"), ("https://pos.example.com/", "no path"),
    ("pos.example.com", "scheme://host"), ("ftp://pos.example.com", "scheme://host"),
    ("https://pos.example.com:443", "default port"), ("http://pos.example.com:80", "default port"),
    ("https://pos.example.com:70000", "bad port"), ("https://pos_example.com", "not a host name"),
    ("http://[::1::2]:8080", "not an IPv6 address"),
    ("http://[0:0:0:0:0:0:0:1]:8080", "short form, [::1]"),
])
def test_configured_origins_that_could_never_match_stop_the_start(origin: str,
                                                                    words: str) -> None:
    with pytest.raises(UsageError) as err:
        check_origin(origin)
    assert words in str(err.value)


def test_configured_origins_in_a_browsers_form_are_kept() -> None:
    for origin in (POS, "http://127.0.0.1:8080", "http://[::1]:8080", "https://his.example:8443"):
        assert check_origin(origin) == origin
