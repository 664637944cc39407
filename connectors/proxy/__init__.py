"""Forward proxies: refuse TLS servers that present a rogue certificate.

A proxy says what it can match with ``blocks_by``: ``fingerprint`` (the certificate's SHA-1: Squid's
``server_cert_fingerprint``), ``name`` (the server's name, the SNI and the certificate's DNS names: a proxy
such as Zscaler ZIA that cannot match a fingerprint), or both. A proxy without the attribute blocks by
fingerprint. Each way has its own Protocol, read methods apart from write methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from certsoar.blocking import canonical_name, name_refusal
from certsoar.errors import ConnectorRejected

if TYPE_CHECKING:
    from certsoar.connectors import ConnectorEnv

BlockBy = Literal["fingerprint", "name"]
BY_FINGERPRINT: frozenset[BlockBy] = frozenset({"fingerprint"})


@runtime_checkable
class Proxy(Protocol):
    # read
    async def blocked_fingerprints(self) -> set[str]:
        """SHA-1 fingerprints currently blocked, lower-case hex without separators."""
        ...

    # write
    async def block_fingerprint(self, sha1: str, comment: str) -> None:
        """Add the fingerprint (lower-case hex, no separators); present ones are left alone."""
        ...

    async def unblock_fingerprint(self, sha1: str) -> None:
        """Remove the fingerprint; an absent one is left absent."""
        ...

    async def is_blocked(self, sha1: str) -> bool:
        """The fingerprint is in the block list."""
        ...


@runtime_checkable
class NameBlockingProxy(Protocol):
    # read
    async def blocked_names(self) -> set[str]:
        """Names currently blocked, each in ``certsoar.blocking.canonical_name`` form (``*.x`` for a domain and
        every name below it)."""
        ...

    async def is_name_blocked(self, name: str) -> bool:
        """``name`` (canonical) is an entry of the block list itself: what ``unblock_names`` removes."""
        ...

    # write
    async def block_names(self, names: list[str], comment: str) -> None:
        """Add the names; present ones are left alone. A name the blocking policy refuses raises
        ConnectorRejected and nothing is written (``blockable_names``)."""
        ...

    async def unblock_names(self, names: list[str]) -> None:
        """Remove these names; absent ones are left absent."""
        ...


def blocks_by(proxy: Any) -> frozenset[BlockBy]:
    """What ``proxy`` can match: its ``blocks_by``, or the fingerprint alone for a proxy that does not say."""
    declared = getattr(proxy, "blocks_by", BY_FINGERPRINT)
    return frozenset(declared)


def blockable_names(names: list[str], env: "ConnectorEnv") -> list[str]:
    """The names in canonical form, each checked again against the blocking policy before a connector writes:
    ConnectorRejected when any is no DNS name or must never be blocked, so that nothing reaches the vendor."""
    checked: list[str] = []
    for name in names:
        reason = name_refusal(name, env.blocking)
        if reason is not None:
            raise ConnectorRejected(f"refusing to block name {name[:80]!r}: {reason}", connector=env.name)
        checked.append(canonical_name(name))
    return list(dict.fromkeys(checked))


def parse_name(name: str) -> str:
    """``name`` in canonical form; ConnectorRejected when it is no DNS name (for reads and unblocks)."""
    try:
        return canonical_name(name)
    except ValueError as exc:
        raise ConnectorRejected(f"not a DNS name: {name[:80]!r} ({exc})") from None


__all__ = ["BlockBy", "NameBlockingProxy", "Proxy", "blockable_names", "blocks_by", "parse_name"]
