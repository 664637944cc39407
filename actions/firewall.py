"""firewall.block: block the servers that presented the certificate, one verified entry per address."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator

from certsoar.connectors.firewall import covers
from certsoar.context import ActionContext
from certsoar.ledger import Effect
from certsoar.registry import action

MAX_ADDRESSES = 256


class BlockInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    addresses: list[str] = Field(max_length=MAX_ADDRESSES, description="Server IP addresses or networks to block.")
    comment: str = Field(default="", max_length=200, description="Why, kept beside the rule.")

    @field_validator("addresses")
    @classmethod
    def _ips(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(str(ipaddress.ip_network(v.strip(), strict=False)).removesuffix("/32").removesuffix("/128")
                                  for v in values))


class BlockOutput(BaseModel):
    effects: list[Effect]
    blocked: list[str] = Field(description="Addresses verified as blocked after the step (planned ones in a dry run).")


@action("firewall.block", mutates=True, reversible=True)
async def block(inp: BlockInput, ctx: ActionContext) -> BlockOutput:
    """Add each address to the firewall's block list unless it is there; verify by reading the list back."""
    firewall = ctx.connectors.firewall
    instance = ctx.connectors.instance("firewall")
    effects: list[Effect] = []
    for address in inp.addresses:

        async def present(address: str = address) -> tuple[bool, dict[str, object]]:
            return covers(await firewall.blocked(), address), {"address": address, "list": instance}

        async def write(address: str = address) -> None:
            await firewall.block([address], inp.comment)

        effects.append(await ctx.ledger.apply(f"firewall:{instance}:block:{address}", step_id=ctx.step_id,
                                              action="firewall.block", target=address, is_done=present, write=write))
    return BlockOutput(effects=effects, blocked=[e.target for e in effects if e.verified or e.planned])
