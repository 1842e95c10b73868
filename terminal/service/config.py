"""The service's configuration: one TOML file, read with the standard library, checked strictly.

Default place: ``$XDG_CONFIG_HOME/sscard/service.toml`` (``~/.config/sscard/service.toml``).
Every key is optional except the reader; unknown keys, wrong types and impossible combinations
are refused with one line naming the key.  Relative paths are relative to the file::

    [reader]
    pcsc = "Virtual PCD 00 00"   # a PC/SC reader: index, exact name or pattern (sscard readers)
    # sim = "card.json"          # ... or a simulated card ("sample": the built-in one)
    # contactless = "PICC"       # a PC/SC reader for iType 2 and 4 (else they answer -1)
    wait = 0.0                   # seconds to wait for a card before answering -2

    [security]
    mode = "psam"                # psam | software (simulated cards only) | hsm (no module)
    psam_reader = "Virtual PCD 00 01"
    # psam_sim = "psam.json"     # a simulated PSAM
    # keys = "keys.json"         # software mode: a TEST key file (default: the TEST keys)

    [pin]
    entry = "auto"               # auto (PIN pad if any, else pinentry) | pinentry | pad | none
    # pad_length = 6             # the fixed PIN length typed on a PIN pad (default:
    #                            # policy.pin_length, else 6); the pad's own limits must allow it
    program = "pinentry"         # pinentry-curses, pinentry-gnome3, pinentry-tty, ...
    args = []
    timeout = 60                 # seconds the holder has (-32 after)
    # ttyname = "/dev/tty1"      # where pinentry-curses shows (default: GPG_TTY, else the
    #                            # service's own terminal); display = ":0" for X11

    [policy]
    initial_pin_can_transact = false   # -35 for 123456 at iVerifyPIN
    pin_length = 6                     # a new PIN's length; 0 = anything from 4 to 16
    forbid_trivial = true              # 111111, 123456, 654321 ... refused (-23)

    [service]
    # socket = "/run/user/1000/sscard/service.sock"
    # log = "/var/log/sscard.log"      # besides stderr
    step_timeout = 120                 # seconds an HSM step group may wait for its next step
    device_number = ""                 # 终端设备号 in iReadCardBas
    max_clients = 64                   # clients at once (the socket's; the bridge's pages too)

    [bridge]                           # the WebSocket for web POS pages (issue 14)
    # port = 31380                     # ws://127.0.0.1:PORT/ and ws://[::1]:PORT/ (no bridge
    #                                  # unless given here or with --bridge PORT)
    allowed_origins = []               # exact origins: ["https://pos.example.com"]
    # pairings = "bridge-pairings.json"  # approved origins (default: next to this file's
    #                                  # default place, ~/.config/sscard/)
    pin_limit = 10                     # PIN operations per origin ...
    pin_window = 60                    # ... per this many seconds
    approve = "code"                   # code (sscard service approve CODE) | pinentry (a
    #                                  # CONFIRM prompt on the service's pinentry)
    demo = false                       # serve the demo page at http://127.0.0.1:PORT/
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from apdu.errors import UsageError
from terminal.national.card import SourceConfig
from terminal.national.facade import NationalConfig
from terminal.national.pinentry import PinentryConfig
from terminal.policy import SalePolicy

SAMPLE = "sample"
#: A configuration file is small; anything larger is not one.
MAX_CONFIG_BYTES = 64 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ReaderSection(_Strict):
    pcsc: str | None = None
    sim: str | None = None
    contactless: str | None = None
    wait: float = Field(default=0.0, ge=0.0, le=3600.0)

    @model_validator(mode="after")
    def _one_reader(self) -> ReaderSection:
        if (self.pcsc is None) == (self.sim is None):
            raise ValueError("give exactly one of reader.pcsc and reader.sim")
        for name in ("pcsc", "sim", "contactless"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise ValueError(f"reader.{name} is empty")
        return self


class SecuritySection(_Strict):
    mode: Literal["psam", "software", "hsm"] = "hsm"
    psam_reader: str | None = None
    psam_sim: str | None = None
    keys: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SecuritySection:
        psams = [n for n in ("psam_reader", "psam_sim") if getattr(self, n) is not None]
        if self.mode == "psam" and len(psams) != 1:
            raise ValueError("security.mode psam needs exactly one of psam_reader and psam_sim")
        if self.mode != "psam" and psams:
            raise ValueError(f"security.{psams[0]} is only for mode psam")
        if self.keys is not None and self.mode != "software":
            raise ValueError("security.keys is only for mode software")
        return self


class PinSection(_Strict):
    entry: Literal["auto", "pinentry", "pad", "none"] = "auto"
    program: str = "pinentry"
    args: list[str] = Field(default_factory=list)
    timeout: int = Field(default=60, ge=0, le=600)
    pad_length: int | None = Field(default=None, ge=4, le=16)
    ttyname: str | None = None
    ttytype: str | None = None
    display: str | None = None


class PolicySection(_Strict):
    initial_pin_can_transact: bool = False
    pin_length: int = Field(default=6, ge=0, le=16)
    forbid_trivial: bool = True

    @model_validator(mode="after")
    def _length(self) -> PolicySection:
        if self.pin_length and self.pin_length < 4:
            raise ValueError("policy.pin_length is 0 (any of 4..16) or 4..16")
        return self


class ServiceSection(_Strict):
    socket: str | None = None
    log: str | None = None
    step_timeout: float = Field(default=120.0, gt=0.0, le=3600.0)
    device_number: str = Field(default="", max_length=32)
    max_clients: int = Field(default=64, ge=1, le=1024)


class BridgeSection(_Strict):
    port: int | None = Field(default=None, ge=0, le=65535)
    allowed_origins: list[str] = Field(default_factory=list, max_length=64)
    pairings: str | None = None
    pin_limit: int = Field(default=10, ge=1, le=1000)
    pin_window: float = Field(default=60.0, gt=0.0, le=86400.0)
    approve: Literal["code", "pinentry"] = "code"
    demo: bool = False

    @model_validator(mode="after")
    def _origins(self) -> BridgeSection:
        from terminal.service.bridge_policy import check_origin

        for origin in self.allowed_origins:
            try:
                check_origin(origin)
            except UsageError as exc:
                raise ValueError(str(exc)) from None
        return self


class ServiceConfig(_Strict):
    """The whole file (see the module docstring)."""

    reader: ReaderSection
    security: SecuritySection = SecuritySection()
    pin: PinSection = PinSection()
    policy: PolicySection = PolicySection()
    service: ServiceSection = ServiceSection()
    bridge: BridgeSection = BridgeSection()

    @model_validator(mode="after")
    def _software_is_for_simulated_cards(self) -> ServiceConfig:
        if self.security.mode == "software" and self.reader.sim is None:
            raise ValueError(
                "security.mode software holds TEST keys and serves simulated cards only "
                "(reader.sim); use psam or hsm with a PC/SC reader"
            )
        return self

    # -- what the pieces take --------------------------------------------------------------------

    def source_config(self, base: Path | None = None) -> SourceConfig:
        r, s = self.reader, self.security
        sim: Path | bool | None = None
        if r.sim is not None:
            sim = True if r.sim == SAMPLE else _path(r.sim, base)
        return SourceConfig(
            reader=r.pcsc,
            sim=sim,
            contactless=r.contactless,
            security=s.mode,
            psam_reader=s.psam_reader,
            psam_sim=_path(s.psam_sim, base) if s.psam_sim else None,
            keys=_path(s.keys, base) if s.keys else None,
            wait=r.wait,
            lock_timeout=self.service.step_timeout + self.pin.timeout + 30.0,
        )

    def national_config(self) -> NationalConfig:
        p = self.pin
        return NationalConfig(
            pin_entry=p.entry,
            pinentry=PinentryConfig(
                program=p.program,
                args=list(p.args),
                timeout=p.timeout,
                ttyname=p.ttyname,
                ttytype=p.ttytype,
                display=p.display,
            ),
            device_number=self.service.device_number,
            policy=SalePolicy(refuse_initial_pin=not self.policy.initial_pin_can_transact),
            pin_length=self.policy.pin_length or None,
            pad_length=p.pad_length,
            forbid_trivial=self.policy.forbid_trivial,
            step_timeout=self.service.step_timeout,
        )


def pairings_path(config: ServiceConfig, base: Path | None) -> Path:
    """Where the bridge keeps approved origins: ``bridge.pairings`` (relative to the file), else
    ``$XDG_CONFIG_HOME/sscard/bridge-pairings.json``."""
    from terminal.service.pairing import default_store_path

    if config.bridge.pairings:
        return _path(config.bridge.pairings, base)
    return default_store_path()


def _path(value: str, base: Path | None) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() or base is None else base / p


def default_config_path() -> Path:
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(home) / "sscard" / "service.toml"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_config(data: dict[str, object]) -> ServiceConfig:
    """A configuration from TOML data; :class:`UsageError` with one line when it is wrong."""
    try:
        return ServiceConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"configuration: {_first_error(exc)}") from None


def load_config(path: Path) -> ServiceConfig:
    """Read and check ``path`` (a regular file of at most 64 KiB, UTF-8 TOML)."""
    try:
        # O_NONBLOCK: a FIFO given as the configuration must not hang the service's start.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"cannot read configuration {path}: {exc.strerror}") from None
    if not _is_regular(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"configuration {path} is not a regular file")
    with os.fdopen(fd, "rb") as f:
        try:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read configuration {path}: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(f"configuration {path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"configuration {path} is not TOML: {exc}") from None
    return parse_config(data)


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)
