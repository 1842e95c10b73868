"""Shared pieces of the national-interface and service tests: card files, PSAMs, the PIN queue.

The scripted pinentry (``tests/pinentry_scripted.py``) answers each GETPIN with the first line of
the queue file named by ``SSCARD_TEST_PINQUEUE`` (inherited by every pinentry the facade or the
service starts); :class:`PinQueue` writes that file.  PINs go only into that file, never into a
test's output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apdu.crypto import Algorithm
from apdu.keys import TEST_KEYS, KeySet
from terminal.models import NO_PSAM_TERMINAL_NUMBER
from terminal.national.card import CardSource, SourceConfig
from terminal.national.facade import National, NationalConfig
from terminal.national.pinentry import PinentryConfig

REPO = Path(__file__).resolve().parents[1]
PINENTRY = REPO / "tests" / "pinentry_scripted.py"

#: pCardInfo of the sample card (card-profile §8.3 id, §8.2 number).
CARD_ID = "420100D15600000500000001FFFFFFFF"
CARD_INFO = f"{CARD_ID}|D2143569X|"
#: 终端机编号 of the simulated PSAM (simulator/psam.py default).
PSAM_TERMINAL = "420100000001"
NO_PSAM_TERMINAL = NO_PSAM_TERMINAL_NUMBER

INITIAL = "123456"
NEW_PIN = "246813"
OTHER_PIN = "135790"


@dataclass
class PinQueue:
    """The scripted pinentry's answers: ``put("PIN 123456", "CANCEL", ...)``."""

    path: Path
    log: Path

    def put(self, *answers: str) -> None:
        self.path.write_text("".join(a + "\n" for a in answers), encoding="ascii")

    def remaining(self) -> list[str]:
        return self.path.read_text(encoding="ascii").splitlines() if self.path.exists() else []

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""

    def env(self) -> dict[str, str]:
        return {"SSCARD_TEST_PINQUEUE": str(self.path), "SSCARD_TEST_PINLOG": str(self.log)}


def pin_queue(tmp: Path, monkeypatch: Any | None = None) -> PinQueue:
    queue = PinQueue(tmp / "pinqueue", tmp / "pinlog")
    queue.put()
    if monkeypatch is not None:
        for name, value in queue.env().items():
            monkeypatch.setenv(name, value)
    return queue


def national_config(**overrides: Any) -> NationalConfig:
    pinentry = PinentryConfig(program=str(PINENTRY), timeout=overrides.pop("timeout", 5))
    return NationalConfig(pin_entry="pinentry", pinentry=pinentry, **overrides)


def card_file(tmp: Path, generation: int, name: str | None = None, **overrides: Any) -> Path:
    from simulator.samples import sample_card

    path = tmp / (name or f"card{generation}.json")
    sample_card(generation, **overrides).save(path)
    return path


def psam_file(tmp: Path, generation: int | None = None, *, sm4: bool | None = None,
              keys: KeySet = TEST_KEYS, name: str = "psam.json") -> Path:
    from simulator.psam import Psam

    use_sm4 = sm4 if sm4 is not None else generation == 3
    path = tmp / name
    Psam.issue(algorithm=Algorithm.SM4 if use_sm4 else Algorithm.DES, keys=keys, path=path)
    return path


def source(tmp: Path, generation: int, mode: str = "software", **config: Any) -> CardSource:
    """A card source on a fresh card file of ``generation``: ``psam`` mode gets a matching PSAM."""
    card = card_file(tmp, generation)
    extra: dict[str, Any] = {}
    if mode == "psam" and "psam_sim" not in config:
        extra["psam_sim"] = psam_file(tmp, generation)
    return CardSource(SourceConfig(sim=card, security=mode, **extra, **config))  # type: ignore[arg-type]


def expected_line(path: Path, terminal: str) -> str:
    """What ``sscard read --format national`` prints for the card file, with ``terminal``.

    Read from a copy: the card file itself may be held by a card source or a service (one owner
    per card file)."""
    import shutil
    import tempfile

    from drivers.channel import CardChannel
    from drivers.open import open_reader
    from terminal.reading import read_card
    from terminal.sam.software import SoftwareSam
    from terminal.session import CardSession

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        shutil.copy(path, copy)
        with open_reader(sim=copy) as reader:
            card = read_card(CardSession(CardChannel(reader), sam=SoftwareSam()))
    return card.national_format(terminal, "")


def national(src: CardSource, **config: Any) -> National:
    return National(src, national_config(**config))


def out(result: tuple[int, tuple[bytes, ...]]) -> str:
    """The (single) output of a result, decoded as GBK."""
    return result[1][-1].decode("gbk")
