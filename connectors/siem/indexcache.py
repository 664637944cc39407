"""Log indexes kept across processes, so that a CLI run for one alert does not parse unchanged logs again.

One entry per log file, in the folder that keeps the checked playbooks (certsoar.checkcache: its own user's,
nobody else may write it, entries signed with its key). An entry names the log's path and the code that built
it (the source of the modules that read, normalize and index records, the installed version, the byte order),
so an entry from other code, of another file, forged, cut short or corrupt is a miss: the log is indexed again.
Whether the log itself still starts with the indexed bytes is for logindex to judge.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from array import array
from functools import cache
from pathlib import Path

from certsoar import checkcache
from certsoar.connectors.siem.logindex import Kept, Rows

_ARRAYS = (
    ("offsets", "q"),
    ("directive_counts", "I"),
    ("times", "q"),
    ("kinds", "B"),
    ("keys", "q"),
    ("postings", "I"),
    ("by_time", "I"),
)


def load(path: Path) -> Kept | None:
    """The stored index of ``path`` when there is a valid one."""
    folder = checkcache.usable_dir(create=False)
    if folder is None:
        return None
    try:
        stored = (folder / _entry_name(path)).read_bytes()
        key = checkcache.signing_key(folder)
    except OSError:
        return None
    mac, _, payload = stored.partition(b"\n")
    if key is None or not hmac.compare_digest(mac, _mac(key, payload).encode()):
        return None
    try:
        return _decoded(path, payload)
    except (ValueError, KeyError, TypeError, EOFError):
        return None


def save(path: Path, kept: Kept) -> None:
    """Store the index of ``path``; a cache that cannot be written is skipped silently."""
    folder = checkcache.usable_dir(create=True)
    if folder is None:
        return
    from certsoar.fileio import replacing

    try:
        key = checkcache.signing_key(folder)
        if key is None:
            return
        payload = _encoded(path, kept)
        with replacing(folder / _entry_name(path), mode_if_new=0o600) as temp:
            temp.write_bytes(_mac(key, payload).encode() + b"\n" + payload)
    except OSError:
        return


def _encoded(path: Path, kept: Kept) -> bytes:
    rows = kept.rows
    header = {
        "code": _code(),
        "path": str(path),
        "gzip": kept.gzip,
        "device": kept.device,
        "inode": kept.inode,
        "end": kept.end,
        "mtime_ns": kept.mtime_ns,
        "head": kept.head,
        "tail": kept.tail,
        "content_bytes": kept.content_bytes,
        "layout": rows.layout,
        "directives": list(rows.directives),
        "kind_names": list(rows.kind_names),
        "counts": [rows.records, rows.malformed, rows.no_time],
        "lengths": [len(getattr(rows, name)) for name, _ in _ARRAYS],
    }
    return json.dumps(header).encode() + b"\n" + b"".join(getattr(rows, name).tobytes() for name, _ in _ARRAYS)


def _decoded(path: Path, payload: bytes) -> Kept | None:
    text, _, blob = payload.partition(b"\n")
    header = json.loads(text)
    if header["code"] != _code() or header["path"] != str(path):
        return None
    arrays: dict[str, array[int]] = {}
    at = 0
    for (name, code), length in zip(_ARRAYS, header["lengths"], strict=True):
        values = array(code)
        size = values.itemsize * length
        values.frombytes(blob[at : at + size])
        if len(values) != length:
            return None
        arrays[name] = values
        at += size
    rows_count = len(arrays["offsets"])
    if at != len(blob) or any(len(arrays[n]) != rows_count for n in ("directive_counts", "times", "kinds", "by_time")):
        return None
    records, malformed, no_time = (int(n) for n in header["counts"])
    rows = Rows(
        str(header["layout"]),
        tuple(str(d) for d in header["directives"]),
        tuple(str(k) for k in header["kind_names"]),
        records=records,
        malformed=malformed,
        no_time=no_time,
        **arrays,
    )
    return Kept(
        rows,
        bool(header["gzip"]),
        int(header["device"]),
        int(header["inode"]),
        int(header["end"]),
        int(header["mtime_ns"]),
        str(header["head"]),
        str(header["tail"]),
        int(header["content_bytes"]),
    )


def _entry_name(path: Path) -> str:
    return "siemindex-" + hashlib.sha256(f"{_code()}\x00{path}".encode("utf-8", errors="surrogatepass")).hexdigest()


def _mac(key: bytes, payload: bytes) -> str:
    return hmac.new(key, b"certsoar-siem-index-v1\x00" + payload, hashlib.sha256).hexdigest()


@cache
def _code() -> str:
    """The installed version and the source of what turns a log line into indexed values: other code, other
    entries (an editable install that changed a normalizer does not trust indexes built before)."""
    from importlib.metadata import PackageNotFoundError, version

    from certsoar import addresses, logfields, logformats, timeparse
    from certsoar.certs import fingerprints
    from certsoar.connectors.siem import events, indicators, logindex, readers, windows
    from certsoar.correlation import identity

    try:
        installed = version("certsoar")
    except PackageNotFoundError:
        installed = "unknown"
    digest = hashlib.sha256(f"{installed}\x00{sys.byteorder}".encode())
    modules = (addresses, logfields, logformats, timeparse, fingerprints, identity)
    for module in (*modules, events, indicators, logindex, readers, windows):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()
