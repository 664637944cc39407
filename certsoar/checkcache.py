"""A record of the playbooks that passed ``check_playbook``, so that a process started for one alert does not
check the same playbook again (about half of a one-alert CLI run went there).

An entry names the playbook's text, the installed certsoar version and the shape of the installed actions (what
the check reads), and carries an HMAC under a key kept beside the entries (mode 0600): an entry copied from
elsewhere, forged without the key, or written for other actions is a miss, and a miss checks again. The cache is
used only in a folder of its own user that nobody else may write. Even a hit never skips the approval check
(``validate.check_gates``): a cache can only save time, never let a containment step run ungated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import BytecodeCache, FileSystemBytecodeCache

CACHE_ENV = "CERTSOAR_CACHE"
KEY_FILE = "key"


def cache_dir() -> Path:
    """``$CERTSOAR_CACHE``, else ``$XDG_CACHE_HOME/certsoar``, else ``~/.cache/certsoar``."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "certsoar"


def passed(text: str) -> bool:
    """A valid entry says this playbook text passed the full check with the installed certsoar and actions."""
    folder = usable_dir(create=False)
    if folder is None:
        return False
    try:
        stored = (folder / _entry_name(text)).read_text(encoding="ascii").strip()
        key = signing_key(folder)
    except (OSError, UnicodeDecodeError):
        return False
    return key is not None and hmac.compare_digest(stored, _mac(key, text))


def remember(text: str) -> None:
    """Record that ``text`` passed the full check; a cache that cannot be written is skipped silently."""
    folder = usable_dir(create=True)
    if folder is None:
        return
    from certsoar.fileio import write_atomically

    try:
        key = signing_key(folder)
        if key is not None:
            write_atomically(folder / _entry_name(text), _mac(key, text) + "\n", mode_if_new=0o600)
    except OSError:
        return


def usable_dir(*, create: bool) -> Path | None:
    """The cache folder when it is this user's and nobody else can write it; else None (no cache). The files
    SIEM's log indexes keep their signed entries here too."""
    folder = cache_dir()
    try:
        if create:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o022:
        return None
    return folder


def compiled_jinja(subfolder: str, variant: str = "") -> "BytecodeCache | None":
    """Jinja's compiled code kept in ``subfolder`` of the cache folder, so that a process started for one alert
    does not compile the same templates and expressions again. Only in a folder of this user's that nobody else
    can write: what is kept there is code. Entries name the Jinja version; Jinja checks each against its source
    (and writes it atomically: concurrent processes read a whole entry or none). Code compiled differently from
    one source (another escaping) is kept under its own ``variant``."""
    import jinja2

    folder = usable_dir(create=True)
    if folder is None:
        return None
    try:
        (folder / subfolder).mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    prefix = f"jinja-{jinja2.__version__}-{variant}-" if variant else f"jinja-{jinja2.__version__}-"
    return _tolerant_cache()(str(folder / subfolder), prefix + "%s.cache")


@cache
def _tolerant_cache() -> "type[FileSystemBytecodeCache]":
    """Jinja's file cache, for which a damaged entry (cut short, say) is a miss rather than an error in whatever
    renders or evaluates through it."""
    import pickle

    from jinja2 import FileSystemBytecodeCache
    from jinja2.bccache import Bucket

    class Tolerant(FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
                bucket.reset()

    return Tolerant


def signing_key(folder: Path) -> bytes | None:
    """The secret that signs the entries of ``folder`` (created on first use), None when it cannot be had."""
    from certsoar.audit import AuditKey
    from certsoar.errors import AuditError

    try:  # a generated secret in a private file: the audit log's own way of keeping one
        return AuditKey.generated(folder / KEY_FILE).material(create=True)
    except AuditError:
        return None


def _entry_name(text: str) -> str:
    return "playbook-" + hashlib.sha256(_identity(text).encode()).hexdigest()


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, _identity(text).encode(), hashlib.sha256).hexdigest()


def _identity(text: str) -> str:
    return json.dumps(["certsoar-checked-playbook-v1", _installed(), text], separators=(",", ":"))


@cache
def _installed() -> str:
    """The installed version and the shape of every action the check reads (names, inputs, outputs, whether it
    needs approval): an editable install whose actions changed under the same version gets new entries."""
    from importlib.metadata import PackageNotFoundError, version

    from certsoar.registry import actions

    try:
        installed = version("certsoar")
    except PackageNotFoundError:
        installed = "unknown"
    shape = [
        [
            name,
            spec.needs_approval,
            sorted((key, f.alias or "", f.is_required()) for key, f in spec.input_model.model_fields.items()),
            sorted(spec.output_model.model_fields),
        ]
        for name, spec in actions().items()
    ]
    return installed + ":" + hashlib.sha256(json.dumps(shape).encode()).hexdigest()
