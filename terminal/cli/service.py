"""``sscard service`` (run it, or ask its status) and ``sscard national FUNCTION ARGS``.

- ``sscard service [--config FILE]``: the service with its configuration file
  (:mod:`terminal.service.config`; default ``~/.config/sscard/service.toml``).
- ``sscard service --sim [CARD.json] [--psam PSAM.json] [--socket PATH]``: for development and
  tests, a simulated card in-process and no configuration file: without ``--psam`` the software
  TEST module reads the card (终端机编号 ``000000000000``) and the HSM functions serve as on a
  counter without a PSAM.
- ``sscard service status [--socket PATH] [--json]``.
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
    try:
        service = Service(source, config.national_config(), socket_path,
                          max_clients=config.service.max_clients)

        def stop(signum: int, frame: object) -> None:
            service.shutdown()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        click.echo(f"sscard service: listening on {service.path}", err=True)
        service.serve_forever()
    finally:
        source.close()


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
@click.pass_context
def service(ctx: click.Context, config_file: str | None, sim: str | None, psam: str | None,
            keys: str | None, socket_path: str | None, pinentry: str | None,
            log_file: str | None) -> None:
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
    run_service(config, base, _socket_choice(socket_path, config), log_file)


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
