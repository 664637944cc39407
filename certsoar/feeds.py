"""External dynamic lists: what the ``edl`` connectors block, kept in the run store and served as plain text.

Firewalls and proxies that pull a list (PAN-OS External Dynamic List, FortiGate external threat feed, Check
Point IoC feed, OPNsense URL table alias) read one entry per line over HTTP. The ``edl`` firewall connector
adds server addresses to the ``addresses`` feed, the ``edl`` proxy connector certificate SHA-1 fingerprints
to the ``sha1`` feed and server names (the SNI, the certificate's DNS names) to the ``sni`` feed; ``certsoar
serve`` answers ``/v1/feeds/<feed>.txt`` and ``certsoar feeds write DIR`` writes the same files. Rows are keyed
by (connector instance, feed, value): a value blocked twice is one row, and an instance's unblock never removes
what another instance listed.

Only values parsed and rendered again by certsoar go into a feed (an address from ``network_text``, a
fingerprint as 40 lower-case hex digits, a name in ``certsoar.blocking.canonical_name`` form), so a feed line
can never carry what an alert put in it.
"""

from __future__ import annotations

import ipaddress
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from certsoar.addresses import network_text, parse_network
from certsoar.blocking import canonical_name
from certsoar.fileio import write_atomically
from certsoar.store import RunStore, utcnow

Feed = Literal["addresses", "sha1", "sni"]
FEEDS: tuple[Feed, ...] = ("addresses", "sha1", "sni")

SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_entries (
    instance TEXT NOT NULL,
    feed TEXT NOT NULL,
    value TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    added TEXT NOT NULL,
    PRIMARY KEY (instance, feed, value)
);
"""

_SHA1 = re.compile(r"[0-9a-f]{40}")


def prepare(store: RunStore) -> None:
    """Create the table (a read-only store is left as it is: its reads find no table and no entries)."""
    if not store.read_only:
        store.db.executescript(SCHEMA)


def add(store: RunStore, instance: str, feed: Feed, values: list[str], comment: str) -> list[str]:
    """List ``values`` in ``feed`` for ``instance``; returns those that were not listed yet."""
    added: list[str] = []
    now = utcnow().isoformat()
    with store.transaction() as db:
        for value in values:
            cursor = db.execute(
                "INSERT OR IGNORE INTO feed_entries (instance, feed, value, comment, added) VALUES (?,?,?,?,?)",
                (instance, feed, _checked(feed, value), comment, now),
            )
            if cursor.rowcount:
                added.append(value)
    return added


def remove(store: RunStore, instance: str, feed: Feed, values: list[str]) -> list[str]:
    """Take ``values`` out of ``instance``'s part of ``feed``; returns those that were listed."""
    removed: list[str] = []
    with store.transaction() as db:
        for value in values:
            cursor = db.execute(
                "DELETE FROM feed_entries WHERE instance=? AND feed=? AND value=?", (instance, feed, value)
            )
            if cursor.rowcount:
                removed.append(value)
    return removed


def entries(store: RunStore, feed: Feed, instance: str | None = None) -> list[str]:
    """The values of ``feed`` (of one instance, or of every instance together), each once, in feed order."""
    query = "SELECT DISTINCT value FROM feed_entries WHERE feed=?"
    args: tuple[str, ...] = (feed,)
    if instance is not None:
        query += " AND instance=?"
        args += (instance,)
    try:
        values = [row[0] for row in store.db.execute(query, args)]
    except sqlite3.OperationalError:  # a read-only store that never held a feed
        return []
    return sorted(values, key=_order_key(feed))


def text(store: RunStore, feed: Feed) -> str:
    """The feed as served: one entry per line, each line ending in a newline (empty when nothing is listed)."""
    return "".join(f"{value}\n" for value in entries(store, feed))


def write(store: RunStore, folder: Path) -> dict[str, int]:
    """Write ``<feed>.txt`` for every feed into ``folder`` (each replaced whole); the count of entries of each."""
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for feed in FEEDS:
        body = text(store, feed)
        write_atomically(folder / f"{feed}.txt", body, encoding="ascii")
        counts[feed] = body.count("\n")
    return counts


def _checked(feed: Feed, value: str) -> str:
    """Refuse (ValueError) anything that is not already in certsoar's own normalized form."""
    if feed == "sha1":
        if not _SHA1.fullmatch(value):
            raise ValueError(f"not a SHA-1 fingerprint in lower-case hex: {value!r}")
        return value
    if feed == "sni":
        if value != canonical_name(value):
            raise ValueError(f"not a DNS name in canonical form: {value!r}")
        return value
    if value != network_text(parse_network(value)):
        raise ValueError(f"not a normalized address or network: {value!r}")
    return value


def _order_key(feed: Feed) -> Callable[[str], tuple[int, int, int] | str]:
    if feed in ("sha1", "sni"):
        return lambda value: value

    def by_address(value: str) -> tuple[int, int, int]:
        network = ipaddress.ip_network(value)
        return network.version, int(network.network_address), network.prefixlen

    return by_address
