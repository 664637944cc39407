"""Forward proxies: refuse TLS servers that present a certificate with a given SHA-1."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


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
