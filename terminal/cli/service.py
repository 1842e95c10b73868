"""``sscard service`` (run it, or ask its status) and ``sscard national FUNCTION ARGS``.

- ``sscard service [--config FILE]``: the service with its configuration file
  (:mod:`terminal.service.config`; default ``~/.config/sscard/service.toml``).
- ``sscard service --sim [CARD.json] [--psam PSAM.json] [--socket PATH]``: for development and
  tests, a simulated card in-process and no configuration file: without ``--psam`` the software
  TEST module reads the card (终端机编号 ``000000000000``) and the HSM functions serve as on a
  counter without a PSAM.
- ``sscard service status [--socket PATH] [--json]``.
- ``--bridge PORT``, ``--allow-origin ORIGIN`` (repeatable), ``--demo``: the WebSocket bridge for
  web POS pages beside the ``[bridge]`` table (:mod:`terminal.service.bridge`); ``--demo`` alone
  uses port :data:`DEFAULT_BRIDGE_PORT`.  ``sscard service approve CODE`` / ``revoke ORIGIN`` /
  ``pairings``: the operator's side of pairing, through the service's socket.
- ``sscard national FUNCTION ARGS...``: one national call through the service, printed as the C
  library returns it: the code on the first line, then each output buffer decoded from GBK on a
  line of its own (a control character a card might carry is shown as ``\\xNN``).  Exit 0 when
  the code is 0, 1 otherwise.

The socket: ``--socket``, else the configuration's ``service.socket``, else ``SSCARD_SOCKET``,
else ``$XDG_RUNTIME_DIR/sscard/service.sock`` (the C library looks in the same places).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from apdu.errors import SSCardError, UsageError
from apdu.text import printable
from terminal.cli.options import SAMPLE as BARE_SIM
from terminal.service.config import (
    SAMPLE,
    ServiceConfig,
    default_config_path,
    load_config,
    parse_config,
)
from terminal.service.runtime import ENV_SOCKET, default_socket_path

LOG_FORMAT = "%(asctime)s sscard-service %(levelname)s %(message)s"
#: The bridge's port when ``--demo`` is given without ``--bridge`` or ``[bridge] port``.
DEFAULT_BRIDGE_PORT = 31380


class ServiceUnavailable(SSCardError):
    """No service answers on the socket (exit 2, like every I/O problem)."""


def _socket_choice(option: str | None, config: ServiceConfig | None) -> Path | None:
    """The socket to listen on; None = the private default directory."""
    if option:
        return Path(option)
    if config is not None and config.service.socket:
        return Path(config.service.socket).expanduser()
    env = os.environ.get(ENV_SOCKET)
    return Path(env) if env else None


def sim_value(sim: str) -> str:
    """What a ``--sim`` on the command line means in the configuration's ``reader.sim``: a bare
    ``--sim`` is the built-in card (the configuration's keyword ``"sample"``); a value is a card
    file whatever its name — ``--sim sample`` is the file ``./sample`` (issue 11)."""
    if sim == BARE_SIM:
        return SAMPLE
    return f"./{sim}" if sim == SAMPLE else sim


def _sim_config(
    sim: str, psam: str | None, keys: str | None, pinentry: str | None
) -> ServiceConfig:
    security: dict[str, Any] = {"mode": "software"}
    if psam is not None:
        security = {"mode": "psam", "psam_sim": psam}
    if keys is not None:
        security["keys"] = keys
    data: dict[str, Any] = {"reader": {"sim": sim}, "security": security}
    if pinentry is not None:
        data["pin"] = {"entry": "pinentry", "program": pinentry}
    return parse_config(data)


def _setup_logging(log_file: str | None) -> None:
    """Log lines go to stderr (the journal under systemd) and, when asked, to ``log_file``.

    Request lines are handed over by the service's own writer thread (terminal/service/server.py),
    so a request never waits for a log write."""
    logger = logging.getLogger("sscard.service")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        try:
            handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot open log file {log_file}: {exc.strerror}") from None
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)


def run_service(config: ServiceConfig, base: Path | None, socket_path: Path | None,
                log_file: str | None) -> None:
    """Build the card source and the service, serve until SIGINT/SIGTERM, release everything."""
    _setup_logging(log_file or config.service.log)
    _serve(config, base, socket_path)
    click.echo("sscard service: stopped", err=True)


def _serve(config: ServiceConfig, base: Path | None, socket_path: Path | None) -> None:
    from terminal.national.card import CardSource
    from terminal.service.server import Service

    source = CardSource(config.source_config(base))
    bridge = None
    try:
        service = Service(source, config.national_config(), socket_path,
                          max_clients=config.service.max_clients)
        if config.bridge.port is not None:
            bridge = _start_bridge(config, base, service)

        def stop(signum: int, frame: object) -> None:
            service.shutdown()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        click.echo(f"sscard service: listening on {service.path}", err=True)
        service.serve_forever()
    finally:
        if bridge is not None:
            bridge.stop()
        source.close()


def _start_bridge(config: ServiceConfig, base: Path | None, service: Any) -> Any:
    """The WebSocket bridge beside the service, its operator ops on the service's socket."""
    from terminal.service.bridge import Bridge, BridgeSettings
    from terminal.service.config import pairings_path
    from terminal.service.pairing import PairingStore

    b = config.bridge
    assert b.port is not None
    settings = BridgeSettings(
        port=b.port, origins=frozenset(b.allowed_origins),
        pairings=PairingStore(pairings_path(config, base)), pin_limit=b.pin_limit,
        pin_window=b.pin_window, approve=b.approve, demo=b.demo,
        max_connections=config.service.max_clients,
    )
    bridge = Bridge(service.source, service.config, settings, service.requests.add)
    bridge.start()

    def approve(request: dict[str, Any]) -> dict[str, Any]:
        code = request.get("code")
        if not isinstance(code, str) or not (code.isascii() and code.isdigit()):
            return {"code": -14, "error": "a pairing code is digits"}
        try:
            origin = bridge.approve(code)
        except UsageError as exc:
            return {"code": -14, "error": str(exc)}
        if origin is None:
            return {"code": -14, "error": "no pending pairing has this code (it may have "
                                          "expired: the page shows a new one when it reconnects)"}
        return {"code": 0, "origin": origin}

    def revoke(request: dict[str, Any]) -> dict[str, Any]:
        origin = request.get("origin")
        if not isinstance(origin, str):
            return {"code": -14, "error": "give the origin to revoke"}
        try:
            return {"code": 0, "revoked": bridge.revoke(origin)}
        except UsageError as exc:
            return {"code": -14, "error": str(exc)}

    def pairings(request: dict[str, Any]) -> dict[str, Any]:
        return {"code": 0, "approved": bridge.pairings.approved(),
                "pending": bridge.pairings.pending(), "allowed": sorted(b.allowed_origins)}

    service.ops.update(bridge_approve=approve, bridge_revoke=revoke, bridge_pairings=pairings)
    service.status_extra["bridge"] = bridge.info
    origins = ", ".join(sorted(b.allowed_origins)) or "none"
    click.echo(f"sscard service: bridge {' '.join(bridge.addresses)} (origins: {origins}; "
               f"pairings in {settings.pairings.path})", err=True)
    if b.demo:
        click.echo(f"sscard service: demo page http://127.0.0.1:{bridge.port}/ "
                   f"(or http://localhost:{bridge.port}/)", err=True)
    return bridge


@click.group(invoke_without_command=True)
@click.option("--config", "config_file", metavar="FILE", default=None,
              help="The TOML configuration (default ~/.config/sscard/service.toml).")
@click.option("--sim", "sim", metavar="[CARD.json]", is_flag=False, flag_value=BARE_SIM,
              default=None, help="A simulated card in-process instead of a configuration file.")
@click.option("--psam", metavar="PSAM.json", default=None,
              help="With --sim: a simulated PSAM (without it: the software TEST module).")
@click.option("--keys", metavar="FILE", default=None,
              help="With --sim: a TEST key file for the software module.")
@click.option("--socket", "socket_path", metavar="PATH", default=None,
              help="Listen here instead of $XDG_RUNTIME_DIR/sscard/service.sock.")
@click.option("--pinentry", "pinentry", metavar="PROGRAM", default=None,
              help="The pinentry program for PIN entry (default: pinentry).")
@click.option("--log", "log_file", metavar="FILE", default=None,
              help="Also log every request to FILE (never a PIN).")
@click.option("--bridge", "bridge_port", metavar="PORT", type=click.IntRange(0, 65535),
              default=None, help="The WebSocket bridge for web pages on 127.0.0.1/::1:PORT.")
@click.option("--allow-origin", "allow_origins", metavar="ORIGIN", multiple=True,
              help="A web origin the bridge admits (exact, e.g. https://pos.example.com; "
              "repeatable; beside [bridge] allowed_origins).")
@click.option("--demo", is_flag=True, help="Serve the demo page on the bridge's port "
              f"(default port {DEFAULT_BRIDGE_PORT}).")
@click.pass_context
def service(ctx: click.Context, config_file: str | None, sim: str | None, psam: str | None,
            keys: str | None, socket_path: str | None, pinentry: str | None,
            log_file: str | None, bridge_port: int | None, allow_origins: tuple[str, ...],
            demo: bool) -> None:
    """Run the sscard service: the national reader interface for other programs (C library)."""
    if ctx.invoked_subcommand is not None:
        return
    base: Path | None
    if sim is not None:
        if config_file is not None:
            raise UsageError("give --sim or --config, not both")
        config = _sim_config(sim_value(sim), psam, keys, pinentry)
        base = Path.cwd()
    else:
        if psam is not None or keys is not None:
            raise UsageError("--psam and --keys go with --sim (else: the configuration file)")
        path = Path(config_file) if config_file else default_config_path()
        if config_file is None and not path.exists():
            raise UsageError(f"no configuration: give --config FILE, create {path}, or use --sim")
        config = load_config(path)
        if pinentry is not None:
            config = parse_config(
                {**config.model_dump(), "pin": {**config.pin.model_dump(), "program": pinentry}}
            )
        base = path.resolve().parent
    config = _bridge_options(config, bridge_port, allow_origins, demo)
    run_service(config, base, _socket_choice(socket_path, config), log_file)


def _bridge_options(config: ServiceConfig, port: int | None, origins: tuple[str, ...],
                    demo: bool) -> ServiceConfig:
    """The command line's bridge options over the configuration's ``[bridge]`` table."""
    if port is None and not origins and not demo:
        return config
    bridge = config.bridge.model_dump()
    if port is not None:
        bridge["port"] = port
    bridge["allowed_origins"] = [*bridge["allowed_origins"],
                                 *(o for o in origins if o not in bridge["allowed_origins"])]
    if demo:
        bridge["demo"] = True
        if bridge["port"] is None:
            bridge["port"] = DEFAULT_BRIDGE_PORT
    if bridge["port"] is None:
        raise UsageError("--allow-origin needs the bridge: --bridge PORT or [bridge] port")
    return parse_config({**config.model_dump(), "bridge": bridge})


@service.command()
@click.option("--socket", "socket_path", metavar="PATH", default=None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
def status(socket_path: str | None, as_json: bool) -> None:
    """Is the service running?  Its readers, card, security module and counters."""
    from terminal.service.protocol import ServiceClient, ServiceError

    path = socket_path or str(default_socket_path())
    try:
        with ServiceClient(path, timeout=10.0) as client:
            answer = client.request({"v": 1, "op": "status"})
    except ServiceError as exc:
        raise ServiceUnavailable(str(exc)) from None
    if as_json:
        click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    click.echo(f"sscard service on {answer.get('socket', path)}: running "
               f"{answer.get('uptime_s', 0):.0f} s, protocol {answer.get('protocol')}")
    for reader in answer.get("readers", []):
        present = {True: "card", False: "no card", None: "?"}[reader.get("card_present")]
        kind = "contactless" if reader.get("contactless") else "contact"
        click.echo(f"  reader ({kind}): {_clean(str(reader.get('name')))} [{present}]")
    click.echo(f"  security: {answer.get('security')}"
               + (f" — {answer['psam']}" if answer.get("psam") else ""))
    click.echo(f"  calls {answer.get('calls')}, failures {answer.get('failures')}, "
               f"clients {answer.get('clients')}")


def _operator_request(socket_path: str | None, request: dict[str, Any]) -> dict[str, Any]:
    from terminal.service.protocol import ServiceClient, ServiceError

    path = socket_path or str(default_socket_path())
    try:
        with ServiceClient(path, timeout=30.0) as client:
            answer = client.request({"v": 1, **request})
    except ServiceError as exc:
        raise ServiceUnavailable(str(exc)) from None
    if answer.get("code") == -13:
        raise UsageError("the service runs without the bridge (start it with --bridge PORT)")
    if answer.get("code") != 0:
        raise UsageError(str(answer.get("error", "refused")))
    return answer


@service.command()
@click.argument("code")
@click.option("--socket", "socket_path", metavar="PATH", default=None)
def approve(code: str, socket_path: str | None) -> None:
    """Approve the web origin whose page shows this pairing code."""
    answer = _operator_request(socket_path, {"op": "bridge_approve", "code": code})
    click.echo(f"approved {_clean(str(answer.get('origin')))}")


@service.command()
@click.argument("origin")
@click.option("--socket", "socket_path", metavar="PATH", default=None)
def revoke(origin: str, socket_path: str | None) -> None:
    """Withdraw a web origin's approval (effective at its next message)."""
    answer = _operator_request(socket_path, {"op": "bridge_revoke", "origin": origin})
    if answer.get("revoked"):
        click.echo(f"revoked {_clean(origin)}")
    else:
        click.echo(f"{_clean(origin)} was not approved")


@service.command()
@click.option("--socket", "socket_path", metavar="PATH", default=None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
def pairings(socket_path: str | None, as_json: bool) -> None:
    """The bridge's approved origins and the pairings waiting for approval."""
    answer = _operator_request(socket_path, {"op": "bridge_pairings"})
    if as_json:
        click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    for origin, when in sorted(answer.get("approved", {}).items()):
        click.echo(f"approved  {_clean(origin)}  since {_clean(str(when))}")
    for origin, code in sorted(answer.get("pending", {}).items()):
        click.echo(f"waiting   {_clean(origin)}  code {_clean(str(code))}")
    if not answer.get("approved") and not answer.get("pending"):
        click.echo("no origin is approved or waiting")


def _clean(text: str) -> str:
    """A control character a card might carry is shown as an escape (apdu.text's rule)."""
    return printable(text)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("function")
@click.argument("args", nargs=-1)
@click.option("--socket", "socket_path", metavar="PATH", default=None)
@click.pass_context
def national(ctx: click.Context, function: str, args: tuple[str, ...],
             socket_path: str | None) -> None:
    """Call a national function through the service: sscard national iReadCardBas 3."""
    from terminal.national.signatures import SIGNATURES
    from terminal.service.protocol import ServiceClient, ServiceError

    sig = SIGNATURES.get(function)
    if sig is None:
        raise UsageError(f"{function!r} is not a national function; one of: "
                         + ", ".join(SIGNATURES))
    params = sig.arguments
    if len(args) != len(params):
        raise UsageError(f"{sig.c_prototype()} takes {len(params)} argument(s): "
                         + " ".join(p.name for p in params))
    values: list[int | bytes | str] = []
    for text, param in zip(args, params, strict=True):
        if param.kind == "int":
            try:
                values.append(int(text))
            except ValueError:
                raise UsageError(f"{param.name} is an integer, not {text!r}") from None
        else:
            values.append(text)
    path = socket_path or str(default_socket_path())
    try:
        with ServiceClient(path) as client:
            code, outputs = client.call(function, values)
    except ServiceError as exc:
        raise ServiceUnavailable(str(exc)) from None
    click.echo(str(code))
    for data in outputs:
        click.echo(_clean(data.decode("gbk", errors="replace")))
    ctx.exit(0 if code == 0 else 1)
