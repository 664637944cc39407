"""nftables: block server addresses in named sets of a table that certsoar owns.

certsoar writes one self-contained nft script (``settings.ruleset``) holding the whole table:
an IPv4 set, an IPv6 set (``<set_name>6``) and base chains at the input, forward and output
hooks that drop traffic to and from those sets. The script starts with
``table <family> <table> {}`` + ``delete table <family> <table>`` so that ``nft -f`` replaces
the table in one transaction whether it exists or not: loading it again is harmless.

With ``apply: false`` only the file is kept (an operator or a unit loads it); with
``apply: true`` every change is checked with ``nft -c -f`` and loaded with ``nft -f``, and
reads come from the live kernel set so that a verification step sees the real state.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tempfile
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from certsoar.addresses import IpNetwork, network_text
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.firewall import blockable, network_covers, parse_address
from certsoar.errors import ConnectorRejected
from certsoar.fileio import locked, printable_line, write_atomically
from certsoar.proc import require_success, run_tool

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}$")
COMMENT_MAX_CHARS = 120
"""nft refuses element comments longer than 128 bytes; keep a margin."""

_HEADER = "# Managed by certsoar: rogue-certificate servers. Rewritten on every change; do not edit.\n"
_ELEMENT_LINE = re.compile(r'^\t\t\t(?P<addr>[0-9A-Fa-f.:/]+)(?: comment "(?P<comment>[^"\\]*)")?,$')


class NftablesSettings(ConnectorSettings):
    ruleset: Path = Field(description="The nft script certsoar owns (written atomically).")
    table: str = Field("certsoar", description="Table name; the whole table belongs to certsoar.")
    family: Literal["inet"] = "inet"
    set_name: str = Field("blocked_servers", description="IPv4 set; IPv6 goes to '<set_name>6'.")
    apply: bool = Field(False, description="Load the script into the kernel after each change.")
    nft: str = Field("nft", description="nft binary (name on PATH or absolute path).")
    timeout: float = Field(15, gt=0, description="Seconds allowed per nft call.")

    @field_validator("table", "set_name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError(f"{value!r} is not a plain nft identifier (letter, then letters/digits/_; max 31)")
        return value


def sanitize_comment(comment: str) -> str:
    """Printable ASCII without quotes or backslashes, whitespace collapsed, bounded length."""
    return printable_line(comment.replace('"', "'").replace("\\", "/"), COMMENT_MAX_CHARS)


@dataclass(frozen=True)
class _Entry:
    network: IpNetwork
    comment: str


def merge_entries(existing: list[_Entry], new: list[_Entry]) -> list[_Entry]:
    """Add ``new`` to ``existing``. An address inside a network already listed is already
    blocked; a new network swallows the entries it contains (nft refuses overlapping
    elements in an interval set)."""
    merged = list(existing)
    for entry in new:
        if any(network_covers(kept.network, entry.network) for kept in merged):
            continue
        merged = [kept for kept in merged if not network_covers(entry.network, kept.network)]
        merged.append(entry)
    return merged


class NftablesFirewall:
    settings_model: ClassVar[type[ConnectorSettings]] = NftablesSettings

    def __init__(self, settings: NftablesSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        self.path = env.resolve(settings.ruleset)

    @property
    def set_names(self) -> tuple[str, str]:
        return self.settings.set_name, self.settings.set_name + "6"

    # ----------------------------------------------------------------- read

    async def blocked(self) -> set[str]:
        # Under the lock (shared), so a read-back sees the result of the writer before it.
        async with self._locked(shared=True):
            if self.settings.apply:
                return await self._live_addresses()
            return {network_text(entry.network) for entry in self._read_entries()}

    async def is_blocked(self, address: str) -> bool:
        return network_text(parse_address(address)) in await self.blocked()

    # ---------------------------------------------------------------- write

    async def block(self, addresses: list[str], comment: str) -> None:
        requested = blockable(addresses, self.env)
        note = sanitize_comment(comment)
        async with self._locked():
            await self._block_locked(requested, note)

    async def unblock(self, addresses: list[str]) -> None:
        unwanted = {parse_address(text) for text in addresses}
        async with self._locked():
            existing = self._read_entries()
            kept = [entry for entry in existing if entry.network not in unwanted]
            await self._install(kept, file_changed=kept != existing)

    def _locked(self, *, shared: bool = False) -> AbstractAsyncContextManager[None]:
        """One writer at a time on the ruleset, across processes: read, merge, write, load."""
        return locked(self.path, timeout=self.settings.timeout, connector=self.env.name, shared=shared)

    async def _block_locked(self, requested: list[IpNetwork], note: str) -> None:
        existing = self._read_entries()
        merged = merge_entries(existing, [_Entry(network, note) for network in requested])
        file_changed = merged != existing
        if not file_changed and not self.settings.apply:
            return
        if not file_changed and await self._live_covers(requested):
            return
        await self._install(merged, file_changed=file_changed)

    async def _install(self, entries: list[_Entry], *, file_changed: bool) -> None:
        """Write ``entries`` as the ruleset (when they differ from the file) and, with ``apply``, load it; a
        load that fails puts the previous file back."""
        if not file_changed and not self.settings.apply:
            return
        script = self.render(entries)
        if self.settings.apply:
            await self._check(script)
        previous = self.path.read_text(encoding="ascii") if file_changed and self.path.exists() else None
        if file_changed:
            write_atomically(self.path, script, encoding="ascii")
        if self.settings.apply:
            try:
                await self._run("-f", str(self.path))
            except ConnectorRejected:
                if file_changed:  # keep the file in step with what the kernel holds
                    self._restore(previous)
                raise

    def _restore(self, previous: str | None) -> None:
        if previous is None:
            self.path.unlink(missing_ok=True)
        else:
            write_atomically(self.path, previous, encoding="ascii")

    # ------------------------------------------------------------ the file

    def render(self, entries: list[_Entry]) -> str:
        s = self.settings
        v4_set, v6_set = self.set_names
        ident = f"{s.family} {s.table}"
        lines = [
            _HEADER,
            f"table {ident} {{}}\n",
            f"delete table {ident}\n",
            f"table {ident} {{\n",
        ]
        for name, version in ((v4_set, 4), (v6_set, 6)):
            lines += [
                f"\tset {name} {{\n",
                f"\t\ttype ipv{version}_addr\n",
                "\t\tflags interval\n",
            ]
            members = [e for e in entries if e.network.version == version]
            if members:
                lines.append("\t\telements = {\n")
                for entry in members:
                    tail = f' comment "{entry.comment}"' if entry.comment else ""
                    lines.append(f"\t\t\t{network_text(entry.network)}{tail},\n")
                lines.append("\t\t}\n")
            lines.append("\t}\n")
        drops = {
            "input": ["saddr"],
            "forward": ["daddr", "saddr"],
            "output": ["daddr"],
        }
        for hook, directions in drops.items():
            lines += [
                f"\tchain {hook} {{\n",
                f"\t\ttype filter hook {hook} priority filter; policy accept;\n",
            ]
            for direction in directions:
                lines.append(f"\t\tip {direction} @{v4_set} drop\n")
                lines.append(f"\t\tip6 {direction} @{v6_set} drop\n")
            lines.append("\t}\n")
        lines.append("}\n")
        return "".join(lines)

    def _read_entries(self) -> list[_Entry]:
        """Elements from the file certsoar wrote (one per line inside ``elements = {``)."""
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise ConnectorRejected(f"cannot read {self.path}: {exc}", connector=self.env.name) from None
        entries: list[_Entry] = []
        inside = False
        for number, line in enumerate(text.splitlines(), start=1):
            if line == "\t\telements = {":
                inside = True
            elif inside and line == "\t\t}":
                inside = False
            elif inside:
                match = _ELEMENT_LINE.fullmatch(line)
                if match is None:
                    raise ConnectorRejected(
                        f"{self.path}:{number}: not an element line written by certsoar", connector=self.env.name
                    )
                network = parse_address(match["addr"])
                entries.append(_Entry(network, match["comment"] or ""))
        return entries

    # ------------------------------------------------------------- the kernel

    async def _live_addresses(self) -> set[str]:
        found: set[str] = set()
        for name in self.set_names:
            found |= await self._live_set(name)
        return found

    async def _live_covers(self, requested: list[IpNetwork]) -> bool:
        live = [parse_address(text) for text in await self._live_addresses()]
        return all(any(network_covers(have, want) for have in live) for want in requested)

    async def _live_set(self, name: str) -> set[str]:
        s = self.settings
        try:
            out = await self._run("-j", "list", "set", s.family, s.table, name)
        except ConnectorRejected as exc:
            if "No such file or directory" in str(exc):
                return set()  # the table is not loaded: the kernel blocks nothing
            raise
        try:
            document = json.loads(out)
            items = [item["set"] for item in document["nftables"] if "set" in item]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConnectorRejected(f"unexpected nft -j output: {exc}", connector=self.env.name) from None
        return {_element_text(elem) for item in items for elem in item.get("elem", [])}

    async def _check(self, script: str) -> None:
        # Check the exact text that will be installed, before the file is replaced.
        with tempfile.TemporaryDirectory(prefix="certsoar-nft-") as folder:
            candidate = Path(folder) / "candidate.nft"
            candidate.write_text(script, encoding="ascii")
            await self._run("-c", "-f", str(candidate))

    async def _run(self, *args: str) -> str:
        """stdout of ``nft <args>``; a non-zero exit → ConnectorRejected with nft's stderr."""
        argv = [self.settings.nft, *args]
        label = " ".join(argv[:3])
        result = await run_tool(argv, timeout=self.settings.timeout, connector=self.env.name, label=label)
        return require_success(result, label=label, connector=self.env.name)


def _element_text(elem: object) -> str:
    """One element of ``nft -j list set`` as normalized text."""
    value = elem["elem"]["val"] if isinstance(elem, dict) and "elem" in elem else elem
    if isinstance(value, str):
        return network_text(parse_address(value))
    if isinstance(value, dict) and "prefix" in value:
        prefix = value["prefix"]
        return network_text(parse_address(f"{prefix['addr']}/{prefix['len']}"))
    if isinstance(value, dict) and "range" in value:
        low, high = (ipaddress.ip_address(v) for v in value["range"])
        networks: list[IpNetwork] = list(ipaddress.summarize_address_range(low, high))  # type: ignore[type-var]
        if len(networks) == 1:
            return network_text(networks[0])
        return f"{low}-{high}"
    raise ConnectorRejected(f"unexpected set element in nft output: {elem!r}")
