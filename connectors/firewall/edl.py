"""``edl``: a vendor-neutral external dynamic list of server addresses, for firewalls that pull a list.

The blocked addresses are kept in the run store (``certsoar.feeds``, feed ``addresses``) and served by
``certsoar serve`` at ``/v1/feeds/addresses.txt``, one address or CIDR network a line; ``certsoar feeds write
DIR`` writes the same file for a web server to publish. Point the firewall's list at it: a PAN-OS External
Dynamic List of type IP, a FortiGate external threat feed (IP address), a Check Point IoC feed, an OPNsense
URL Table (IPs) alias. The firewall sees a change at its next pull (its refresh interval), not at once.
"""

from __future__ import annotations

from typing import ClassVar

from certsoar import feeds
from certsoar.addresses import network_text
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.firewall import blockable, network_covers, parse_address
from certsoar.fileio import printable_line
from certsoar.store import RunStore

COMMENT_MAX_CHARS = 120


class EdlSettings(ConnectorSettings):
    """No settings: the list lives in the run store of the state dir; serving it is ``certsoar serve``'s job."""


class EdlFirewall:
    settings_model: ClassVar[type[ConnectorSettings]] = EdlSettings

    def __init__(self, settings: EdlSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        self.store = env.store or RunStore.in_state_dir(env.state_dir)
        feeds.prepare(self.store)

    def __repr__(self) -> str:
        return f"EdlFirewall(instance={self.env.name!r})"

    # read
    async def blocked(self) -> set[str]:
        return set(feeds.entries(self.store, "addresses", self.env.name))

    async def is_blocked(self, address: str) -> bool:
        return network_text(parse_address(address)) in await self.blocked()

    # write
    async def block(self, addresses: list[str], comment: str) -> None:
        requested = blockable(addresses, self.env)
        listed = [parse_address(value) for value in await self.blocked()]
        wanted = [n for n in requested if not any(network_covers(have, n) for have in listed)]
        if wanted:
            note = printable_line(comment, COMMENT_MAX_CHARS)
            feeds.add(self.store, self.env.name, "addresses", [network_text(n) for n in wanted], note)

    async def unblock(self, addresses: list[str]) -> None:
        unwanted = [network_text(parse_address(text)) for text in addresses]
        feeds.remove(self.store, self.env.name, "addresses", unwanted)


__all__ = ["EdlFirewall", "EdlSettings"]
