"""``sscard read --photo`` and ``read --files`` through the real PC/SC stack (issue 15): pcscd, the
vpcd bridge and the simulated 3.00 card in slot 0 (T=0), the SM4 PSAM in slot 1 as the security
module, ``sscard`` run as a separate process as a counter runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from simulator.photo import synthetic_portrait

SSCARD = [sys.executable, "-m", "terminal.cli.main"]


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SSCARD, *args], input=stdin, capture_output=True, text=True, timeout=90,
        env=dict(os.environ, PYTHONUNBUFFERED="1"), check=False,
    )


def test_photo_and_medical_files_through_pcscd_with_the_psam(
    pcsc_stack: Any, tmp_path: Path
) -> None:
    out = tmp_path / "p.jpg"
    done = _run(
        "read", "--reader", pcsc_stack.card_reader, "--psam-reader", pcsc_stack.psam_reader,
        "--photo", str(out), "--files", "DF04", "--pin-stdin", "--json", stdin="123456\n",
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == synthetic_portrait()
    with Image.open(out) as img:
        img.load()
    doc = json.loads(done.stdout)
    # a PC/SC reader is not known to carry extended APDUs: the largest short reads
    assert doc["photo"]["reads"] == 10 and doc["complete"] is True
    log = next(f for f in doc["files"] if f["path"] == "DF04/EF08")
    assert len(log["records"]) == 3
