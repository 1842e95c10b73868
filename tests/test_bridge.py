"""The browser bridge with plain clients: who is refused (before any card access), pairing,
revocation, the messages, PIN entry off the socket, the rate limit, the national shape (the same
``pOutInfo`` as the C library), HSM steps per connection, loopback only.

Each test starts its own ``sscard service --sim CARD --bridge 0`` (tests/helpers_bridge.py).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from tests.helpers_bridge import RunningBridge, ask, raw_http, receive, running_bridge, upgrade
from tests.helpers_national import (
    CARD_INFO,
    INITIAL,
    NEW_PIN,
    PINENTRY,
    REPO,
    PinQueue,
    card_file,
    pin_queue,
)
from tests.hsm_helper import basic_key

POS = "https://pos.example.com"
LIB = REPO / "build" / "national" / "libsscard-national.so"


@pytest.fixture
def pins(tmp_path: Path) -> PinQueue:
    return pin_queue(tmp_path)


@pytest.fixture
def bridge(tmp_path: Path, pins: PinQueue) -> Iterator[RunningBridge]:
    card = card_file(tmp_path, 3)
    args = ["--sim", str(card), "--bridge", "0", "--demo", "--allow-origin", POS]
    with running_bridge(tmp_path, args, pins=pins) as running:
        yield running


def refused_in_log(b: RunningBridge, needle: str) -> str:
    return b.svc.wait_log(f"bridge refused status=403 reason={needle}")


# --- refused before any card access ---------------------------------------------------------------


def test_foreign_origin_missing_origin_and_foreign_host_are_refused_before_card_access(
        bridge: RunningBridge) -> None:
    port = bridge.port
    here = f"127.0.0.1:{port}"
    cases = [
        (dict(host=here, origin="https://evil.example"), 403, "Origin 'https://evil.example'"),
        (dict(host=here, origin=None), 403, "missing Origin"),
        (dict(host=here, origin=POS + "/"), 403, "Origin 'https://pos.example.com/'"),
        (dict(host=here, origin="https://pos.example.com.evil.example"), 403, "Origin"),
        (dict(host=here, origin="null"), 403, "Origin 'null'"),
        (dict(host=f"evil.example:{port}", origin=POS), 403, "forbidden Host 'evil.example:"),
        (dict(host=f"127.0.0.1.evil.example:{port}", origin=POS), 403, "forbidden Host"),
        (dict(host=f"localhost:{port + 1}", origin=POS), 403, "forbidden Host"),
        (dict(host="127.0.0.1", origin=POS), 403, "forbidden Host '127.0.0.1'"),
        (dict(host=None, origin=POS), 403, "forbidden Host"),
        (dict(host=here, origin=POS, extra=[f"Origin: {POS}"]), 403, "2 Origin headers"),
        (dict(host=here, origin=POS, extra=[f"Host: {here}"]), 403, "forbidden Host"),
        (dict(host=here, origin=POS, method="POST"), 405, "method"),
        (dict(host=here, origin=POS, path="/?callback=steal"), 404, "not found"),
        (dict(host=here, origin=POS, path="/national"), 404, "not found"),
    ]
    for kwargs, status, reason in cases:
        got, body = upgrade(port, **kwargs)  # type: ignore[arg-type]
        assert (got, reason in body) == (status, True), (kwargs, got, body)
    # plain GETs: only the demo page's exact files (no query string, nothing that acts)
    for path, expected in [("/", 200), ("/demo.js", 200), ("/?callback=x", 404),
                           ("/read", 404), ("/../etc/passwd", 404)]:
        got, _ = raw_http(port, [f"GET {path} HTTP/1.1", f"Host: {here}"])
        assert got == expected, path
    got, _ = raw_http(port, ["GET / HTTP/1.1", f"Host: evil.example:{port}"])
    assert got == 403  # DNS rebinding cannot even load the page
    # the plain GET's own line (the upgrade above was refused with the same Host)
    refused_in_log(bridge, f"forbidden Host 'evil.example:{port}' request=http / ")
    assert bridge.card_opened() == 0
    refused = bridge.status()["bridge"]["refused"]
    assert refused["origin"] >= 5 and refused["host"] >= 6


def test_without_demo_no_get_is_answered_and_no_origin_of_its_own(tmp_path: Path) -> None:
    card = card_file(tmp_path, 3)
    with running_bridge(tmp_path, ["--sim", str(card), "--bridge", "0"]) as b:
        here = f"127.0.0.1:{b.port}"
        assert raw_http(b.port, ["GET / HTTP/1.1", f"Host: {here}"])[0] == 404
        status, body = upgrade(b.port, host=here, origin=b.demo_origin)
        assert status == 403 and "is not allowed" in body
        assert b.card_opened() == 0


_OTHER_USER = r"""
import socket, sys
port = int(sys.argv[1])
with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
    s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               f"Sec-WebSocket-Version: 13\r\nOrigin: {sys.argv[2]}\r\n\r\n").encode())
    print(s.recv(4096).split(b"\r\n", 1)[0].decode())
"""


def test_another_user_of_the_machine_is_refused(bridge: RunningBridge) -> None:
    """Loopback is open to every user of the PC: a client socket of another uid is refused
    (as the Unix socket refuses one), even with an allowed Origin and Host."""
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
         "-c", _OTHER_USER, str(bridge.port), bridge.demo_origin],
        capture_output=True, text=True, timeout=60, check=False, cwd="/")
    assert done.stdout.strip().startswith("HTTP/1.1 403"), done.stdout + done.stderr
    bridge.svc.wait_log("bridge refused status=403 reason=a client of uid 65534 (not this user's)")
    assert bridge.status()["bridge"]["refused"]["user"] == 1
    assert bridge.card_opened() == 0


def test_listening_sockets_are_loopback_only(bridge: RunningBridge) -> None:
    """Every listening socket on the bridge's port is 127.0.0.1 or ::1 (never a wildcard)."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table, encoding="ascii") as f:
            next(f)
            for line in f:
                local, state = line.split()[1], line.split()[3]
                address, port = local.split(":")
                if state == "0A" and int(port, 16) == bridge.port:  # LISTEN
                    assert len(address) == width
                    found.append(address)
    assert sorted(found) == sorted(["0100007F", "00000000000000000000000001000000"])


def test_not_reachable_on_a_non_loopback_address(tmp_path: Path) -> None:
    """In a network namespace of its own with a non-loopback address on each family, the
    bridge answers on 127.0.0.1 and ::1 and refuses connections to the other addresses."""
    card = card_file(tmp_path, 3)
    done = subprocess.run(
        ["unshare", "--net", sys.executable, "-m", "tests.bridge_netns", str(card),
         str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(REPO)),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"127.0.0.1": "open", "::1": "open", "10.254.0.1": "refused",
                      "fd00:5ca:7d::1": "refused"}


# --- pairing ------------------------------------------------------------------------------------


def test_unpaired_origin_gets_pairing_required_approve_persists_revoke_next_message(
        tmp_path: Path, pins: PinQueue) -> None:
    card = card_file(tmp_path, 3)
    args = ["--sim", str(card), "--bridge", "0", "--allow-origin", POS]
    with running_bridge(tmp_path, args, pins=pins) as b:
        with b.ws(POS) as ws:
            first = receive(ws)
            assert first["type"] == "pairing_required" and first["origin"] == POS
            code = first["code"]
            assert len(code) == 6 and code.isdigit()
            assert code in b.svc.wait_log("bridge: pairing request from https://pos.example.com")
            again = ask(ws, {"type": "read", "id": 7})
            assert again == {"type": "pairing_required", "origin": POS, "code": code, "id": 7}
            national = ask(ws, {"function": "iReadCardBas", "iType": 3})
            assert national["type"] == "pairing_required"
            assert b.card_opened() == 0
            wrong = b.cli("approve", "000000" if code != "000000" else "111111")
            assert wrong.returncode != 0 and "no pending pairing" in wrong.stderr
            done = b.cli("approve", code)
            assert done.returncode == 0 and f"approved {POS}" in done.stdout, done.stderr
            assert receive(ws) == {"type": "paired", "origin": POS}
            read = ask(ws, {"type": "read", "id": "r1"})
            assert read["ok"] is True and read["result"]["card"]["name"] == "张三丰"
        mode = stat.S_IMODE(os.stat(b.pairing_file).st_mode)
        assert mode == 0o600
        assert POS in json.loads(b.pairing_file.read_text())["origins"]
        home = b.config_home
    # a restart: the approval is still there
    with running_bridge(tmp_path, args, pins=pins, config_home=home) as b:
        with b.ws(POS) as ws:
            hello = ask(ws, {"type": "hello", "id": 1})
            assert hello["ok"] is True and hello["origin"] == POS
            listed = b.cli("pairings")
            assert POS in listed.stdout and "approved" in listed.stdout
            assert b.cli("revoke", POS).stdout.strip() == f"revoked {POS}"
            after = ask(ws, {"type": "read", "id": 2})  # the very next message
            assert after["type"] == "pairing_required" and after["id"] == 2
        assert POS not in json.loads(b.pairing_file.read_text())["origins"]
        assert b.svc.wait_log("type=read result=pairing_required")


def test_a_pairing_file_that_is_not_ours_stops_the_start(tmp_path: Path) -> None:
    card = card_file(tmp_path, 3)
    home = tmp_path / "config"
    (home / "sscard").mkdir(parents=True)
    target = home / "sscard" / "bridge-pairings.json"
    cmd = [sys.executable, "-m", "terminal.cli.main", "service", "--sim", str(card), "--bridge",
           "0", "--socket", str(tmp_path / "s.sock")]
    env = dict(os.environ, XDG_CONFIG_HOME=str(home))
    target.write_text('{"version": 1, "origins": {}}')
    for make, words in [
        (lambda: os.chmod(target, 0o644), "has mode 0644, not 0600"),
        (lambda: (target.unlink(), target.symlink_to(tmp_path / "elsewhere.json")),
         "a symbolic link"),
        (lambda: (target.unlink(), os.mkfifo(target)), "FIFO"),
    ]:
        make()
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60,
                              env=env, stdin=subprocess.DEVNULL, check=False)
        assert done.returncode == 2, done.stderr
        assert words in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert stat.S_ISFIFO(os.lstat(target).st_mode)  # never replaced


def test_pairing_through_the_local_confirm_prompt(tmp_path: Path, pins: PinQueue) -> None:
    card = card_file(tmp_path, 3)
    config = tmp_path / "service.toml"
    config.write_text(
        f'[reader]\nsim = "{card}"\n[security]\nmode = "software"\n'
        f'[pin]\nentry = "pinentry"\nprogram = "{PINENTRY}"\ntimeout = 20\n'
        f'[bridge]\nport = 0\nallowed_origins = ["{POS}", "https://other.example.com"]\n'
        'approve = "pinentry"\n')
    pins.put("CANCEL", "CONFIRM")
    with running_bridge(tmp_path, ["--config", str(config)], pins=pins) as b:
        with b.ws("https://other.example.com") as ws:  # the operator says no
            assert receive(ws)["type"] == "pairing_required"
            b.svc.wait_log("the operator refused https://other.example.com")
            assert ask(ws, {"type": "hello"})["type"] == "pairing_required"
        with b.ws(POS) as ws:  # the operator says yes
            assert receive(ws)["type"] == "pairing_required"
            assert receive(ws) == {"type": "paired", "origin": POS}
            assert ask(ws, {"type": "hello"})["ok"] is True
    log = pins.log_text()
    assert "CONFIRM" in log and "https://pos.example.com" in log and "GETPIN" not in log


# --- the messages ---------------------------------------------------------------------------------


def test_demo_origin_reads_checks_and_gets_the_status(bridge: RunningBridge) -> None:
    with bridge.ws() as ws:
        hello = ask(ws, {"type": "hello", "id": 1})
        assert hello["ok"] and hello["readers"] == ["contact"] and hello["service"] == "sscard"
        read = ask(ws, {"type": "read", "photo": True, "id": 2})
        card = read["result"]["card"]
        assert (card["name"], card["ssn"]) == ("张三丰", "420102198505151238")
        assert read["result"]["photo"].startswith("data:image/jpeg;base64,/9j/")
        check = ask(ws, {"type": "check"})["result"]
        assert check["verdict"] == "ok" and check["genuine"] is True
        status = ask(ws, {"type": "status"})["result"]
        assert status["verdict"] == "activated" and status["pin"] == "enabled"
        assert ask(ws, {"type": "pin_status"})["result"] == {"state": "enabled", "tries_left": 6}
        sub = ask(ws, {"type": "subscribe", "id": 5})
        assert sub == {"type": "subscribe", "id": 5, "ok": True,
                       "result": {"present": {"contact": True}}}
        assert ask(ws, {"type": "read", "reader": "contactless"})["error"]["code"] == \
            "no_contactless_reader"
    line = bridge.svc.wait_log("type=read reader=contact result=ok")
    assert f"origin={bridge.demo_origin}" in line


def test_no_message_accepts_pin_digits_or_raw_apdus(bridge: RunningBridge) -> None:
    with bridge.ws() as ws:
        opened = bridge.card_opened()
        cases = [
            ({"type": "pin_verify", "pin": INITIAL}, "unknown_field"),
            ({"type": "pin_change", "old": INITIAL, "new": NEW_PIN}, "unknown_field"),
            ({"type": "pharmacy", "password": INITIAL}, "unknown_field"),
            ({"type": "read", "apdu": "00A404000F"}, "unknown_field"),
            ({"type": "apdu", "apdu": "00A404000F"}, "unknown_type"),
            ({"type": "transmit", "data": "00B0000000"}, "unknown_type"),
            ({"function": "iVerifyPIN", "iType": 3, "pPin": INITIAL}, "unknown_field"),
            ({"function": "iWriteCard", "iType": 3}, "unknown_function"),
            ({"function": "iReloadPIN_HSM_Step2", "pKey": "00"}, "unknown_function"),
            ({"type": "pin_verify", "reader": INITIAL}, "bad_request"),
            ({"type": "activation_check", "name": "张三丰", "id_number": INITIAL}, "bad_request"),
            ({"type": "read", "function": "iReadCardBas"}, "bad_request"),
            ({"type": "read", "id": {"x": 1}}, "bad_request"),
        ]
        for message, code in cases:
            answer = ask(ws, message)
            assert answer["ok"] is False and answer["error"]["code"] == code, (message, answer)
        ws.send(b"\x00\xa4\x04\x00")
        assert receive(ws)["error"]["code"] == "bad_request"
        ws.send("{not json")
        assert receive(ws)["error"]["code"] == "bad_request"
        assert bridge.card_opened() == opened
    assert INITIAL not in bridge.svc.text() and INITIAL not in bridge.svc.log.read_text()


def test_pin_change_and_verify_on_the_local_prompt_name_the_origin(bridge: RunningBridge,
                                                                  pins: PinQueue) -> None:
    with bridge.ws() as ws:
        pins.put(f"PIN {INITIAL}")
        refused = ask(ws, {"type": "pin_verify"})
        assert refused["error"]["code"] == "initial_pin_refused"  # before any try is spent
        assert ask(ws, {"type": "pin_status"})["result"]["tries_left"] == 6
        pins.put(f"PIN {INITIAL}", f"PIN {NEW_PIN}", f"PIN {NEW_PIN}")
        assert ask(ws, {"type": "pin_change"})["result"] == {"result": "changed",
                                                             "entry": "prompt"}
        pins.put("PIN 999999")
        wrong = ask(ws, {"type": "pin_verify"})
        assert wrong["error"]["code"] == "wrong_pin" and wrong["error"]["tries_left"] == 5
        pins.put(f"PIN {NEW_PIN}")
        ok = ask(ws, {"type": "pin_verify", "id": 9})
        assert ok["result"] == {"result": "verified", "tries_left": 5, "entry": "prompt"}
        pins.put("CANCEL")
        assert ask(ws, {"type": "pin_verify"})["error"]["code"] == "pin_cancelled"
        pins.put(f"PIN {NEW_PIN}")
        sale = ask(ws, {"type": "pharmacy"})["result"]
        assert sale["medical_area_code"] == "420100" and sale["pin"] == "verified"
    assert bridge.demo_origin in pins.log_text()  # the prompt says which page asks
    bridge.svc.wait_log("type=pharmacy reader=contact result=ok")  # logged after the answer
    text = bridge.svc.text() + bridge.svc.log.read_text()
    for secret in (INITIAL, NEW_PIN, "999999"):
        assert secret not in text


def test_pin_operations_are_rate_limited_per_origin(tmp_path: Path, pins: PinQueue) -> None:
    card = card_file(tmp_path, 3)
    config = tmp_path / "service.toml"
    config.write_text(
        f'[reader]\nsim = "{card}"\n[security]\nmode = "software"\n'
        f'[pin]\nentry = "pinentry"\nprogram = "{PINENTRY}"\ntimeout = 20\n'
        '[bridge]\nport = 0\ndemo = true\npin_limit = 2\npin_window = 3600\n')
    with running_bridge(tmp_path, ["--config", str(config)], pins=pins) as b:
        with b.ws() as ws, b.ws(f"http://localhost:{b.port}") as other:
            for _ in range(2):
                pins.put("CANCEL")
                assert ask(ws, {"type": "pin_verify"})["error"]["code"] == "pin_cancelled"
            limited = ask(ws, {"function": "iVerifyPIN", "iType": 3, "id": 3})
            assert limited["error"]["code"] == "rate_limited" and limited["id"] == 3
            assert 3500 < limited["error"]["retry_after"] <= 3600
            assert ask(ws, {"type": "read"})["ok"] is True  # other work goes on
            pins.put("CANCEL")  # another origin has its own allowance
            assert ask(other, {"type": "pin_verify"})["error"]["code"] == "pin_cancelled"
        assert b.status()["bridge"]["rate_limited"] == 1
        assert "GETPIN" in pins.log_text() and pins.log_text().count("GETPIN") == 3


def test_activation_steps_keep_to_one_card(bridge: RunningBridge, pins: PinQueue) -> None:
    with bridge.ws() as ws:
        assert ask(ws, {"type": "activation_bank"})["error"]["code"] == "activation_order"
        mismatch = ask(ws, {"type": "activation_check", "name": "李四",
                            "id_number": "420102198505151238"})
        assert mismatch["error"]["code"] == "holder_mismatch"
        checked = ask(ws, {"type": "activation_check", "name": "张三丰",
                           "id_number": "420102198505151238"})
        assert checked["ok"] and checked["result"]["pin"] == "enabled"
        bank = ask(ws, {"type": "activation_bank"})["result"]
        assert bank["bank_application"] is True and "*" in bank["masked_pan"]
        pins.put(f"PIN {INITIAL}", f"PIN {NEW_PIN}", f"PIN {NEW_PIN}")
        assert ask(ws, {"type": "activation_change_pin"})["ok"] is True
        final = ask(ws, {"type": "activation_status"})["result"]
        assert final["activated"] is True
    with bridge.ws() as ws:  # a new connection has checked no card
        assert ask(ws, {"type": "activation_status"})["error"]["code"] == "activation_order"


# --- the national functions -------------------------------------------------------------------


_C_CALLS = r"""
import ctypes, json, sys
lib = ctypes.CDLL(sys.argv[1])
out = {}
def call(name, *args, size=1024, sizes=None):
    fn = getattr(lib, name); fn.restype = ctypes.c_long
    bufs = [ctypes.create_string_buffer(s) for s in (sizes or [size])]
    code = fn(*args, *bufs)
    out[name + repr(args)] = [code] + [b.value.decode("gbk") for b in bufs]
call("iReadCardBas", 3)
call("iReadCardBas", 2)
call("iReadCard", 3, 2, sys.argv[2].encode("gbk"), b"DF04EF05|84|$", size=20480)
call("iReadCard", 3, 2, b"00|X|", b"DF04EF05|84|$", size=20480)
call("iGetReaderInfo", sizes=[32, 16])
print(json.dumps(out, ensure_ascii=False))
"""


def test_national_messages_answer_what_the_c_library_answers(bridge: RunningBridge) -> None:
    done = subprocess.run([sys.executable, "-c", _C_CALLS, str(LIB), CARD_INFO],
                          capture_output=True, text=True, timeout=120, check=False,
                          env=dict(os.environ, SSCARD_SOCKET=str(bridge.svc.socket)))
    assert done.returncode == 0, done.stderr
    c = json.loads(done.stdout)
    with bridge.ws() as ws:
        got = {
            "iReadCardBas(3,)": ask(ws, {"function": "iReadCardBas", "iType": 3}),
            "iReadCardBas(2,)": ask(ws, {"function": "iReadCardBas", "iType": 2}),
            f"iReadCard(3, 2, {CARD_INFO.encode()!r}, b'DF04EF05|84|$')": ask(ws, {
                "function": "iReadCard", "iType": 3, "iAuthType": 2, "pCardInfo": CARD_INFO,
                "pFileAddr": "DF04EF05|84|$"}),
            "iReadCard(3, 2, b'00|X|', b'DF04EF05|84|$')": ask(ws, {
                "function": "iReadCard", "iType": 3, "iAuthType": 2, "pCardInfo": "00|X|",
                "pFileAddr": "DF04EF05|84|$"}),
            "iGetReaderInfo()": ask(ws, {"function": "iGetReaderInfo", "id": 4}),
        }
    assert set(got) == set(c)
    for key, answer in got.items():
        code, *outs = c[key]
        name = key.split("(")[0]
        assert answer["functionName"] == name
        assert answer["success"] == ("1" if code == 0 else str(code)), key
        if name == "iGetReaderInfo":
            assert [answer["pReaderSN"], answer["pPsamTermNo"]] == outs and answer["id"] == 4
        else:
            assert answer["pOutInfo"] == outs[0], key
    assert got["iReadCardBas(3,)"]["pOutInfo"].startswith("420100|420102198505151238|")
    assert got["iReadCardBas(2,)"]["success"] == "-1"


def test_hsm_steps_belong_to_their_connection(bridge: RunningBridge) -> None:
    with bridge.ws() as a, bridge.ws() as b:
        step1 = ask(a, {"function": "iReadCardBas_HSM_Step1", "iType": 3})
        assert step1["success"] == "1"
        key = basic_key(step1["pOutInfo"])
        other = ask(b, {"function": "iReadCardBas_HSM_Step2", "pKey": key})
        assert other["success"] == "-12"  # another connection has no Step1
        step2 = ask(a, {"function": "iReadCardBas_HSM_Step2", "pKey": key})
        assert step2["success"] == "1" and step2["pOutInfo"].split("|")[4] == "张三丰"


def test_a_page_closing_during_the_pin_prompt_cancels_it(bridge: RunningBridge,
                                                         pins: PinQueue, tmp_path: Path) -> None:
    fifo = tmp_path / "prompt-up"
    os.mkfifo(fifo)
    pins.put(f"HANG {fifo}")
    with bridge.ws() as ws:
        ws.send(json.dumps({"type": "pin_verify"}))
        with open(fifo, encoding="ascii") as f:  # the prompt is up
            assert f.readline() == "waiting\n"
        ws.close()
    bridge.svc.wait_log("type=pin_verify reader=contact result=pin_cancelled")
    with bridge.ws() as again:  # the card was released
        assert ask(again, {"type": "pin_status"})["result"]["tries_left"] == 6


def test_refused_websocket_clients_see_an_http_error(bridge: RunningBridge) -> None:
    with pytest.raises(InvalidStatus) as err, bridge.ws("https://evil.example"):
        pass
    assert err.value.response.status_code == 403
    with pytest.raises(InvalidStatus), bridge.ws(f"http://localhost:{bridge.port + 1}"):
        pass


# --- card events through a real PC/SC reader ---------------------------------------------------


def test_subscribed_pages_are_told_when_the_card_is_removed_and_inserted(
        tmp_path: Path, pins: PinQueue, pcsc_stack) -> None:  # type: ignore[no-untyped-def]
    """Through pcscd and vpcd: a subscribed page gets ``removed`` and ``inserted`` as they
    happen; an unsubscribed one gets neither (its next answer is the next thing it reads)."""
    config = tmp_path / "service.toml"
    config.write_text(
        f'[reader]\npcsc = "{pcsc_stack.card_reader}"\n'
        f'[security]\nmode = "psam"\npsam_reader = "{pcsc_stack.psam_reader}"\n'
        f'[pin]\nprogram = "{PINENTRY}"\n[bridge]\nport = 0\ndemo = true\n')
    with running_bridge(tmp_path, ["--config", str(config)], pins=pins) as b:
        with b.ws() as ws, b.ws() as quiet:
            sub = ask(ws, {"type": "subscribe", "id": 1})
            assert sub["result"] == {"present": {"contact": True}}
            try:
                pcsc_stack.eject(0)
                assert receive(ws) == {"type": "card", "event": "removed", "reader": "contact"}
                assert ask(ws, {"type": "read"})["error"]["code"] == "no_card"
                pcsc_stack.insert(0)
                assert receive(ws) == {"type": "card", "event": "inserted", "reader": "contact"}
            finally:
                pcsc_stack.restore()
            assert ask(ws, {"type": "read"})["result"]["card"]["name"]
            quiet.send(json.dumps({"type": "hello", "id": 2}))
            assert receive(quiet)["id"] == 2  # no event came before its answer


def test_pin_verify_from_a_page_is_typed_on_the_readers_pin_pad(
        tmp_path: Path, pins: PinQueue, pcsc_stack) -> None:  # type: ignore[no-untyped-def]
    """On sscard's PIN-pad reader (through pcscd): the page asks (a verify, then a sale), the
    holder types on the pad, the digits reach only the card; a cancel on the pad costs no try;
    the prompt is not used."""
    pad = pcsc_stack.pinpad
    assert pad is not None, "the PIN-pad reader needs the test stack's private pcscd"
    pad.check_alive()
    pad.keypad("clear")
    config = tmp_path / "service.toml"
    config.write_text(
        f'[reader]\npcsc = "{pad.reader}"\n'
        f'[security]\nmode = "psam"\npsam_reader = "{pcsc_stack.psam_reader}"\n'
        f'[pin]\nentry = "pad"\nprogram = "{PINENTRY}"\n[bridge]\nport = 0\ndemo = true\n')
    with running_bridge(tmp_path, ["--config", str(config)], pins=pins) as b, b.ws() as ws:
        assert ask(ws, {"type": "pin_status"})["result"] == {"state": "enabled", "tries_left": 6}
        pad.keypad(INITIAL)
        ok = ask(ws, {"type": "pin_verify", "id": 1})
        assert ok["result"] == {"result": "verified", "tries_left": 6, "entry": "pad"}, ok
        pad.keypad("cancel")
        assert ask(ws, {"type": "pin_verify"})["error"]["code"] == "pin_cancelled"
        assert ask(ws, {"type": "pin_status"})["result"]["tries_left"] == 6
        pad.keypad(INITIAL)  # the sale: the same workflow as the prompt's, the PIN on the pad
        sale = ask(ws, {"type": "pharmacy"})["result"]
        assert (sale["entry"], sale["pin"], sale["medical_area_code"]) == ("pad", "verified",
                                                                           "420100"), sale
    assert pad.keypad("status") == "keypad 0 entries queued"
    assert "GETPIN" not in pins.log_text()  # the local prompt was never asked
    b.svc.wait_log("type=pharmacy reader=contact result=ok")  # the last request's line
    assert INITIAL not in b.svc.text() + b.svc.log.read_text()


def test_pages_beyond_max_clients_are_refused_and_the_others_go_on(tmp_path: Path) -> None:
    card = card_file(tmp_path, 3)
    config = tmp_path / "service.toml"
    config.write_text(f'[reader]\nsim = "{card}"\n[security]\nmode = "software"\n'
                      '[service]\nmax_clients = 2\n[bridge]\nport = 0\ndemo = true\n')
    with running_bridge(tmp_path, ["--config", str(config)]) as b, b.ws() as one, b.ws() as two:
        assert ask(one, {"type": "hello"})["ok"] and ask(two, {"type": "hello"})["ok"]
        with pytest.raises(InvalidStatus) as err, b.ws():
            pass
        assert err.value.response.status_code == 503
        b.svc.wait_log("bridge refused status=503 reason=too many connections (at most 2)")
        assert ask(one, {"type": "read"})["ok"] is True
