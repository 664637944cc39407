"""``edl``: vendor-neutral external dynamic lists of certificate SHA-1 fingerprints and of server names, for
proxies that pull one.

The fingerprints are kept in the run store (``certsoar.feeds``, feed ``sha1``) and served by ``certsoar serve``
at ``/v1/feeds/sha1.txt``, 40 lower-case hex digits a line; the names (the SNI and the certificate's DNS names
the blocking policy allows) in feed ``sni``, at ``/v1/feeds/sni.txt``, one canonical name a line (``*.x`` for
a domain and every name below it). ``certsoar feeds write DIR`` writes the same files. A proxy sees a change at
its next pull.
"""

from __future__ import annotations

from typing import ClassVar

from certsoar import feeds
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.proxy import BlockBy, blockable_names, parse_name
from certsoar.connectors.proxy.squid import normalize_sha1
from certsoar.fileio import printable_line
from certsoar.store import RunStore

COMMENT_MAX_CHARS = 120


class EdlProxySettings(ConnectorSettings):
    """No settings: the list lives in the run store of the state dir; serving it is ``certsoar serve``'s job."""


class EdlProxy:
    settings_model: ClassVar[type[ConnectorSettings]] = EdlProxySettings
    blocks_by: ClassVar[frozenset[BlockBy]] = frozenset({"fingerprint", "name"})

    def __init__(self, settings: EdlProxySettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        self.store = env.store or RunStore.in_state_dir(env.state_dir)
        feeds.prepare(self.store)

    def __repr__(self) -> str:
        return f"EdlProxy(instance={self.env.name!r})"

    # read
    async def blocked_fingerprints(self) -> set[str]:
        return set(feeds.entries(self.store, "sha1", self.env.name))

    async def is_blocked(self, sha1: str) -> bool:
        return normalize_sha1(sha1) in await self.blocked_fingerprints()

    # write
    async def block_fingerprint(self, sha1: str, comment: str) -> None:
        note = printable_line(comment, COMMENT_MAX_CHARS)
        feeds.add(self.store, self.env.name, "sha1", [normalize_sha1(sha1)], note)

    async def unblock_fingerprint(self, sha1: str) -> None:
        feeds.remove(self.store, self.env.name, "sha1", [normalize_sha1(sha1)])

    # names: read
    async def blocked_names(self) -> set[str]:
        return set(feeds.entries(self.store, "sni", self.env.name))

    async def is_name_blocked(self, name: str) -> bool:
        return parse_name(name) in await self.blocked_names()

    # names: write
    async def block_names(self, names: list[str], comment: str) -> None:
        wanted = blockable_names(names, self.env)
        feeds.add(self.store, self.env.name, "sni", wanted, printable_line(comment, COMMENT_MAX_CHARS))

    async def unblock_names(self, names: list[str]) -> None:
        feeds.remove(self.store, self.env.name, "sni", [parse_name(name) for name in names])


__all__ = ["EdlProxy", "EdlProxySettings"]
