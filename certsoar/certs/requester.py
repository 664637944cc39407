"""Whom a certificate names besides the account that requested it (AD CS ESC1/ESC6/ESC9-15).

The CA's event says who asked (``CORP\\mallory``, ``mallory@corp.example``, ``CORP\\WS-0199$``); the
certificate's SAN says whom it authenticates as. A user principal name of another account lets the
requester log on as that account (certipy ``-upn administrator@...``); for a computer account, a DNS name
of another host does the same for that host. A user's DNS names are not judged: web server templates are
requested by people for the servers they run.

Account names compare case-insensitively. A NetBIOS domain (``CORP``) cannot be mapped to a DNS suffix
without the directory, so it agrees with a UPN suffix that has it as one of its labels (``corp.example``,
``eu.corp.example``); a requester in UPN form must have the same suffix.
"""

from __future__ import annotations

from dataclasses import dataclass

from certsoar.certs.names import normalize_host

_NO_ACCOUNT = ("", "-", "n/a", "null")


@dataclass(frozen=True)
class Account:
    name: str
    """sAMAccountName or UPN prefix, case-folded; ends with ``$`` for a computer account."""
    netbios: str | None = None
    dns_domain: str | None = None

    @property
    def machine(self) -> str | None:
        """The host name of a computer account (``ws-0199`` for ``WS-0199$``)."""
        return self.name[:-1] if self.name.endswith("$") and len(self.name) > 1 else None

    def owns_upn(self, upn: str) -> bool:
        local, at, suffix = upn.strip().casefold().rpartition("@")
        if not at:
            local, suffix = suffix, ""
        if local not in (self.name, self.machine):
            return False
        suffix = suffix.rstrip(".")
        if self.dns_domain is not None:
            return suffix == self.dns_domain
        if self.netbios is not None and suffix:
            return self.netbios in suffix.split(".")
        return True

    def owns_host(self, name: str) -> bool:
        host = normalize_host(name)
        return self.machine is not None and host.split(".", 1)[0] == self.machine


def parse_account(requester: str | None) -> Account | None:
    """``DOMAIN\\user``, ``user@dns.domain`` or a bare name; None when there is no account to judge."""
    if requester is None:
        return None
    text = requester.strip().casefold()
    if text in _NO_ACCOUNT:
        return None
    domain, backslash, name = text.rpartition("\\")
    if backslash:
        return Account(name=name.strip(), netbios=domain.strip() or None) if name.strip() else None
    local, at, suffix = text.rpartition("@")
    if at and local and suffix:
        return Account(name=local.strip(), dns_domain=suffix.strip().rstrip("."))
    return Account(name=text)


def others_named(requester: str | None, upns: list[str], dns_names: list[str]) -> list[str]:
    """The SAN names that are not the requester's own: other accounts' UPNs, and for a computer account
    other hosts' DNS names. Empty when the requester is unknown."""
    account = parse_account(requester)
    if account is None:
        return []
    others = [upn for upn in upns if upn.strip() and not account.owns_upn(upn)]
    if account.machine is not None:
        others.extend(name for name in dns_names if name.strip() and not account.owns_host(name))
    return list(dict.fromkeys(others))
