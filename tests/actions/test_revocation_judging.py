"""The revocation sweep judges lazily (index.txt first, each fact of a certificate read only when a rule of the
policy asks for it) and must reach exactly the verdicts of describing every certificate in full and judging
that: over the lab's mixed issuances, for every rule alone, every rule at once, and exceptions."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from realcomponents import require_tool
from sweeplab import ISSUANCES, POLICY, build_sweep_lab, openssl

from certsoar.actions.revocation import FindInput, FindOutput, find_violations
from certsoar.config import POLICY_RULES, Config, IssuancePolicy
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import IssuedCertificate
from certsoar.connectors.ca.described import CertificateReading, Listed
from certsoar.connectors.ca.openssl import OpenSslCa, OpenSslCaSettings
from certsoar.context import ActionContext
from certsoar.issuance import PolicyJudge, judge
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore

pytestmark = pytest.mark.real

NOW = datetime.now(timezone.utc)
ORG = ["corp.example"]
MORE = (  # facts the sweep lab leaves out: IP SANs, the any EKU, other curves, an Ed25519 key, no SAN at all
    ("ip-san", "/CN=db.corp.example", ["-addext", "subjectAltName=DNS:db.corp.example,IP:10.1.2.3,IP:192.0.2.9"]),
    ("any-eku", "/CN=tool.corp.example", []),  # its extensions come from ANY_EKU_EXTENSIONS
    ("p384", "/CN=p384.corp.example", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]),
    ("ed25519", "/CN=ed.corp.example", ["-newkey", "ed25519"]),
    ("no-san", "/CN=nosan.elsewhere.example", []),
    ("idn", "/CN=xn--bcher-kva.corp.example", ["-addext", "subjectAltName=DNS:xn--bcher-kva.EVIL.example."]),
)
ANY_EKU_EXTENSIONS = "basicConstraints=CA:FALSE\nextendedKeyUsage=anyExtendedKeyUsage,serverAuth\n"
STRICT: dict[str, Any] = {
    "allowed_domains": ["corp.example"],
    "max_validity_days": 398,
    "min_rsa_bits": 2048,
    "allowed_curves": ["secp256r1"],
    "forbid": {
        "ca_true": True,
        "any_eku": True,
        "wildcard": True,
        "ip_outside": ["10.0.0.0/8"],
        "upn_san_mismatch": True,
    },
    "requesters": ["CORP\\pki-admin"],
    "templates": ["WebServer"],
}
ONE_RULE: dict[str, dict[str, Any]] = {
    "outside_domains": {"allowed_domains": ["corp.example"]},
    "max_validity_days": {"max_validity_days": 398},
    "min_rsa_bits": {"min_rsa_bits": 2048},
    "allowed_curves": {"allowed_curves": ["secp256r1"]},
    "ca_true": {"forbid": {"ca_true": True}},
    "any_eku": {"forbid": {"any_eku": True}},
    "wildcard": {"forbid": {"wildcard": True}},
    "ip_outside": {"forbid": {"ip_outside": ["10.0.0.0/8"]}},
    "upn_san_mismatch": {"forbid": {"upn_san_mismatch": True}},
    "requesters": {"requesters": ["CORP\\pki-admin"]},
    "templates": {"templates": ["WebServer"]},
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("openssl")
    root = tmp_path_factory.mktemp("judginglab")
    build_sweep_lab(root)
    ca_dir = root / "ca"
    for name, subject, extra in MORE:
        newkey = [] if "-newkey" in extra else ["-newkey", "rsa:2048"]
        done = openssl(
            "req", "-config", "openssl.cnf", "-new", *newkey, *extra, "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", subject, cwd=ca_dir,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        extfile: list[str] = []
        if name == "any-eku":
            (ca_dir / "any-eku.ext").write_text(ANY_EKU_EXTENSIONS, encoding="utf-8")
            extfile = ["-extfile", "any-eku.ext"]
        done = openssl(
            "ca", "-config", "openssl.cnf", "-batch", "-notext", "-in", f"{name}.csr", "-out", f"{name}.pem",
            *extfile, cwd=ca_dir,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    return root


def connector(root: Path) -> OpenSslCa:
    settings = OpenSslCaSettings(openssl_config=root / "ca" / "openssl.cnf")
    return OpenSslCa(settings, ConnectorEnv(name="openssl-ca", state_dir=root / "state"))


def issued(root: Path) -> list[IssuedCertificate]:
    async def every() -> list[IssuedCertificate]:
        return [c async for c in connector(root).iter_issued()]

    return asyncio.run(every())


def verdicts_in_full(root: Path, policy: IssuancePolicy) -> list[tuple[str, Any, Any]]:
    """Every valid certificate described in full, then judged."""
    found = []
    for cert in issued(root):
        if cert.status == "valid":
            verdict = judge(cert, policy, ORG, NOW)
            found.append((cert.serial, [(b.rule, b.reason) for b in verdict.breaches], _excused(verdict)))
    return found


def verdicts_lazily(root: Path, policy: IssuancePolicy) -> list[tuple[str, Any, Any]]:
    """What the sweep does: index.txt first, facts read as the policy's rules ask for them."""

    async def every() -> list[tuple[str, Any, Any]]:
        found = []
        policy_judge = PolicyJudge(policy, ORG)
        async for listed in connector(root).iter_listed():
            if listed.status == "valid":
                cert = listed.read()
                verdict = policy_judge.judge(cert, NOW)
                found.append((cert.serial, [(b.rule, b.reason) for b in verdict.breaches], _excused(verdict)))
        return found

    return asyncio.run(every())


def _excused(verdict: Any) -> list[tuple[str, str]]:
    return [(b.rule, e.owner) for b, e in verdict.excused]


def exceptions_for(root: Path) -> list[dict[str, Any]]:
    by_subject = {c.subject: c for c in issued(root)}
    outside = by_subject["CN=login.evil.example"]
    wildcard = by_subject["CN=*.corp.example"]
    later, earlier = (NOW + timedelta(days=30)).isoformat(), (NOW - timedelta(days=1)).isoformat()
    return [
        {"serial": outside.serial, "owner": "alice", "reason": "pentest", "expires": later},
        {"sha256": wildcard.sha256, "rules": ["wildcard"], "owner": "bob", "reason": "legacy", "expires": later},
        {"subject": "CN=app\\.corp", "rules": ["ca_true"], "owner": "carol", "reason": "wrong rule", "expires": later},
        {"subject": "CN=legacy", "owner": "dave", "reason": "expired", "expires": earlier},
        {"subject": "CN=lowpriv", "rules": ["upn_san_mismatch"], "owner": "erin", "reason": "esc1", "expires": later},
    ]


@pytest.mark.parametrize(
    "policy_data",
    [POLICY, STRICT, *ONE_RULE.values(), {"allowed_domains": []}, {"forbid": {"upn_san_mismatch": True}}],
    ids=["lab", "strict", *ONE_RULE, "no-domains", "upn"],
)
def test_lazy_judging_gives_the_verdicts_of_the_full_description(lab: Path, policy_data: dict[str, Any]) -> None:
    policy = IssuancePolicy.model_validate(policy_data)
    full = verdicts_in_full(lab, policy)
    assert verdicts_lazily(lab, policy) == full
    assert len(full) == len(ISSUANCES) + len(MORE)


def test_with_exceptions_the_same_are_excused_and_the_same_remain(lab: Path) -> None:
    policy = IssuancePolicy.model_validate({**STRICT, "exceptions": exceptions_for(lab)})
    full = verdicts_in_full(lab, policy)
    assert verdicts_lazily(lab, policy) == full
    excused = {owner for _, _, pairs in full for _, owner in pairs}
    assert excused == {"alice", "bob", "erin"}  # carol's names the wrong rule, dave's has expired


def test_every_rule_fires_on_some_lab_certificate(lab: Path) -> None:
    """The comparison above means something: under the strict policy every rule that the openssl CA can break
    is broken by at least one certificate (an openssl CA reports no requester or template)."""
    fired = {
        rule for _, breaches, _ in verdicts_lazily(lab, IssuancePolicy.model_validate(STRICT)) for rule, _ in breaches
    }
    assert fired == set(POLICY_RULES) - {"requesters", "templates"}


async def test_a_fact_no_rule_needs_is_never_read(lab: Path) -> None:
    policy_judge = PolicyJudge(IssuancePolicy.model_validate({"max_validity_days": 398, "min_rsa_bits": 2048}), [])
    readings = []
    async for listed in connector(lab).iter_listed():
        reading = listed.read()
        assert isinstance(reading, CertificateReading)
        policy_judge.judge(reading, NOW)
        readings.append(reading)
    read = set().union(*(vars(r) for r in readings))
    assert {"not_before", "not_after"} <= read
    assert not read & {"subject", "common_name", "_san", "san_dns", "is_ca", "ekus", "sha256", "_der", "issuer"}
    # the RSA key size is loaded for RSA keys only
    assert [r.key_may_be("rsa") for r in readings if "_key_facts" in vars(r)] == [True] * sum(
        "_key_facts" in vars(r) for r in readings
    )
    assert any("_key_facts" not in vars(r) for r in readings)


class Counting:
    """A CA whose listing counts the certificates whose facts were read; ``lazy=False`` offers only
    iter_issued (the fallback every CA connector gets)."""

    def __init__(self, ca: OpenSslCa, *, lazy: bool) -> None:
        self.ca = ca
        self.reads = 0
        if lazy:
            self.iter_listed = self._iter_listed

    def iter_issued(self, since: str | None = None) -> AsyncIterator[IssuedCertificate]:
        return self.ca.iter_issued(since)

    async def _iter_listed(self, since: str | None = None) -> AsyncIterator[Listed]:
        async for listed in self.ca.iter_listed(since):
            yield listed._replace(read=self._counted(listed))

    def _counted(self, listed: Listed) -> Any:
        def read() -> Any:
            self.reads += 1
            return listed.read()

        return read


def find(root: Path, tmp_path: Path, ca: Counting, policy: dict[str, Any]) -> FindOutput:
    config = Config.model_validate(
        {
            "state_dir": tmp_path / "state",
            "config_dir": root,
            "organization": {"domains": ORG},
            "policy": policy,
            "connectors": {"ca": {"type": "openssl-ca", "openssl_config": "ca/openssl.cnf"}},
        }
    )
    store = RunStore.in_state_dir(config.state_dir)
    ctx = ActionContext(
        run_id="r1",
        step_id="examine",
        dry_run=True,
        now=NOW,
        config=config,
        connectors=Connections(config, store, overrides={"ca": {"openssl-ca": ca}}),
        ledger=EffectLedger(store, store, "r1", dry_run=True),
        templates=None,  # type: ignore[arg-type]
    )
    return asyncio.run(find_violations(FindInput(), ctx))


def test_the_sweep_step_finds_the_same_lazily_and_reads_no_revoked_certificate(lab: Path, tmp_path: Path) -> None:
    copy = tmp_path / "lab"
    shutil.copytree(lab, copy)
    done = openssl("ca", "-config", "openssl.cnf", "-batch", "-revoke", "bad-outside.pem", cwd=copy / "ca")
    assert done.returncode == 0, done.stderr
    policy = {**STRICT, "exceptions": exceptions_for(copy)}
    lazy = Counting(connector(copy), lazy=True)
    found = find(copy, tmp_path / "a", lazy, policy)
    in_full = find(copy, tmp_path / "b", Counting(connector(copy), lazy=False), policy)
    assert found == in_full
    assert (found.examined, found.skipped) == (len(ISSUANCES) + len(MORE), 1 + 2)  # revoked; bob's and erin's
    assert lazy.reads == found.examined - 1  # the revoked certificate's kept copy was never read
    assert {v.serial for v in found.violations} and all(v.reasons for v in found.violations)
