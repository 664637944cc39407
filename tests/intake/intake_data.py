"""Paths and helpers shared by the intake tests (not a test module)."""

from __future__ import annotations

import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
INTAKE = DATA / "intake"
ZEEK = DATA / "zeek"
LEAF_SHA256 = "dc4f4d1400d4526052b5da693394dc8560b29cc21df90b9e2ec7416261c73888"
LEAF_SHA1 = "973ceba25ef865f9d802b0e727555b9c4fc65188"


def zeek_one_line(name: str, keep: int = 0, ts: str = "1334102677.123456") -> bytes:
    """A btest baseline cut to its header and one data line, the masked ts replaced by a real one."""
    lines = (ZEEK / name).read_text().splitlines()
    header = [line for line in lines if line.startswith("#")]
    data = [line for line in lines if line and not line.startswith("#")]
    row = re.sub(r"^XXXXXXXXXX\.XXXXXX", ts, data[keep])
    return ("\n".join(header[:-1] + [row, header[-1]]) + "\n").encode()
