"""The benign corpus (tests/data/benign-certs/SOURCE.txt, plus certifi's roots) run through the analysis and
the shipped certificate-alert rules: which rule escalates which real certificate.

``python tests/certs/benign_corpus.py`` prints the per-rule false-positive table the README reports;
test_benign_corpus.py asserts that nothing escalates.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from certsoar.actions.escalation import EvaluateInput, evaluate_escalation
from certsoar.alert import CertificateAlert
from certsoar.certs import AnalysisContext, CertificateFacts, analyze_alert
from certsoar.certs.chain import certifi_roots
from certsoar.context import ActionContext
from certsoar.intake import load_alert
from certsoar.playbook import find_playbook, load_playbook

CORPUS = Path(__file__).resolve().parent.parent / "data" / "benign-certs"
RULES = load_playbook(find_playbook("certificate-alert")).rules

# Chains as a server presents them (leaf first); every certificate is also a case of its own, as a sensor
# logs each certificate of each chain.
CHAINS: dict[str, tuple[str, ...]] = {
    "chain: Microsoft update leaf + Microsoft Update Secure Server CA 2.1": (
        "microsoft-update-api.cdp.microsoft.com.pem",
        "microsoft-update-secure-server-ca-2.1.pem",
    ),
    "chain: Let's Encrypt leaf + LE Authority X3": ("vectors/cryptography-scts.pem", "vectors/letsencryptx3.pem"),
    "chain: scotthelme.co.uk + LE Authority X3": ("vectors/tls-feature-ocsp-staple.pem", "vectors/letsencryptx3.pem"),
    "chain: RapidSSL G3 + GeoTrust Global CA": ("vectors/rapidssl_sha256_ca_g3.pem", "geotrust-global-ca-root.pem"),
    "chain: cryptography.io + RapidSSL G3 + GeoTrust Global CA": (
        "vectors/cryptography.io.chain.pem",
        "geotrust-global-ca-root.pem",
    ),
}


@dataclass(frozen=True)
class Case:
    name: str
    source: str  # "file", "chain", "zeek" or "certifi"
    alert: CertificateAlert


def _load(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]


def _pem(certs: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in certs)


def _seen_while_valid(certs: list[x509.Certificate]) -> datetime:
    """A day after the latest notBefore: when a sensor could have seen the whole chain valid."""
    return max(c.not_valid_before_utc for c in certs) + timedelta(days=1)


def _alert(name: str, certs: list[x509.Certificate]) -> CertificateAlert:
    return CertificateAlert(id=name, time=_seen_while_valid(certs), certificate_pem=_pem(certs))


def certificate_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in (".pem", ".der"))


def zeek_logs() -> list[Path]:
    return sorted((CORPUS / "zeek").glob("*.x509.log"))


def _zeek_cases(path: Path) -> Iterator[Case]:
    """One alert per x509.log record, as ``certsoar run --format zeek-x509`` reads one; btest masks ``ts``
    (SOURCE.txt), so the record is dated a day after its certificate's notBefore."""
    lines = path.read_text().splitlines()
    header = [line for line in lines if line.startswith("#") and not line.startswith("#close")]
    fields = next(line for line in header if line.startswith("#fields")).split("\t")[1:]
    records = [line for line in lines if line and not line.startswith("#")]
    for number, record in enumerate(records, start=1):
        values = record.split("\t")
        not_before = float(values[fields.index("certificate.not_valid_before")])
        values[fields.index("ts")] = f"{not_before + 86400:.6f}"
        text = "\n".join([*header, "\t".join(values)]) + "\n"
        yield Case(f"zeek: {path.name} #{number}", "zeek", load_alert(text, format="zeek-x509"))


def cases(*, with_certifi: bool = True) -> list[Case]:
    found: list[Case] = []
    for path in certificate_files():
        certs = _load(path)
        rel = path.relative_to(CORPUS).as_posix()
        for index, cert in enumerate(certs):
            found.append(Case(f"{rel} #{index + 1}" if len(certs) > 1 else rel, "file", _alert(rel, [cert])))
    for name, files in CHAINS.items():
        chain = [cert for file in files for cert in _load(CORPUS / file)]
        found.append(Case(name, "chain", _alert(name, chain)))
    for path in zeek_logs():
        found.extend(_zeek_cases(path))
    if with_certifi:
        for root in certifi_roots():
            found.append(Case(f"certifi: {root.subject.rfc4514_string()}", "certifi", _alert("certifi", [root])))
    return found


def facts_of(case: Case) -> CertificateFacts:
    return analyze_alert(case.alert, AnalysisContext(at=case.alert.time))


_QUIET = {
    "creations": {"burst": False, "reason": "no burst"},
    "traffic": {"changed": False, "reason": "steady"},
    "ca_cert": {"skipped": True},
}


def fired_rules(facts: CertificateFacts) -> list[str]:
    """Ids of the shipped certificate-alert rules that fire on ``facts`` alone (SIEM context quiet)."""
    variables: dict[str, Any] = {
        "alert": {"id": "benign"},
        "steps": {"cert": facts.model_dump(mode="json"), **_QUIET},
    }
    ctx = ActionContext(
        run_id="benign",
        step_id="verdict",
        dry_run=True,
        now=datetime.now(timezone.utc),
        config=None,  # type: ignore[arg-type]
        connectors=None,  # type: ignore[arg-type]
        ledger=None,  # type: ignore[arg-type]
        templates=None,  # type: ignore[arg-type]
        variables=variables,
    )
    verdict = asyncio.run(evaluate_escalation(EvaluateInput(rules=list(RULES)), ctx))
    return [reason.rule for reason in verdict.reasons]


SIGNALS = (
    "mimicry:homoglyph",
    "mimicry:exact_brand_untrusted",
    "mimicry:fuzzy",
    "ioc:sslbl",
    "ioc:tool_default",
    "ioc:lifetime",
    "ca_true_on_leaf",
    "exceeds_public_max_validity",
)


def signals(facts: CertificateFacts) -> list[str]:
    """The signals behind the rules, to say which one would have escalated a certificate."""
    found = []
    if facts.mimicry.matched:
        found.append(f"mimicry:{facts.mimicry.kind}")
    if facts.sslbl is not None:
        found.append("ioc:sslbl")
    if any(m.exact and m.tool != "openssl" for m in facts.tools):
        found.append("ioc:tool_default")
    if any("valid for" in r and "limit" in r for r in facts.ioc_reasons):
        found.append("ioc:lifetime")
    found.extend(a for a in facts.anomalies if a in ("ca_true_on_leaf", "exceeds_public_max_validity"))
    return found


@dataclass(frozen=True)
class Outcome:
    case: Case
    rules: list[str]
    signals: list[str]


def run(*, with_certifi: bool = True) -> list[Outcome]:
    outcomes = []
    for case in cases(with_certifi=with_certifi):
        facts = facts_of(case)
        outcomes.append(Outcome(case, fired_rules(facts), signals(facts)))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    """Markdown: per rule and per signal, how many benign certificates it fires on, by source."""
    sources = ["file", "chain", "zeek", "certifi"]
    totals = Counter(o.case.source for o in outcomes)
    rows = [f"| rule or signal | {' | '.join(f'{s} ({totals[s]})' for s in sources)} | total ({len(outcomes)}) |"]
    rows.append("|" + "---|" * (len(sources) + 2))
    keys = [r.id for r in RULES] + list(SIGNALS)
    for key in keys:
        hits = Counter(o.case.source for o in outcomes if key in o.rules or key in o.signals)
        rows.append(f"| {key} | {' | '.join(str(hits[s]) for s in sources)} | {sum(hits.values())} |")
    return "\n".join(rows)


def main() -> int:
    outcomes = run()
    print(table(outcomes))
    escalated = [o for o in outcomes if o.rules]
    for o in escalated:
        print(f"ESCALATED {o.case.name}: {', '.join(o.rules)} ({', '.join(o.signals)})", file=sys.stderr)
    return 1 if escalated else 0


if __name__ == "__main__":
    raise SystemExit(main())
