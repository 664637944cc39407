"""The tool catalogue (certsoar/certs/data/tool-catalogue.yaml): every entry recognized on a certificate built
with the values its source states, proof escalates and shape never does, benign real certificates match nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from certfactory import NOW, custom, name, pem_of
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, analyze_alert
from certsoar.certs.catalogue import CatalogueError, Entry, load_catalogue, parse_catalogue
from certsoar.certs.chain import load_certificates_quietly

CATALOGUE = load_catalogue()
X509_DATA = Path(__file__).parent.parent / "data" / "x509"

# A concrete value for each pattern the catalogue holds, shaped as the entry's source describes. A new
# pattern entry without a value here fails test_every_attribute_entry_is_recognized.
PATTERN_VALUES: dict[str, dict[str, str]] = {
    "dridex-uk-word-company": {"O": "Sandrock Aplicaciones Ltd", "CN": "dulyrefin.com"},
    "trickbot-global-security": {"CN": "example.com"},
    "kins-local-domain": {"CN": "local.domain"},
    "gootkit-www-random": {"CN": "www.a8d6k2zq.com", "O": "Kx92ca.1"},
    "havoc-https-listener": {"ST": "California", "L": "San Francisco", "postalCode": "4821"},
    "orcusrat-cn": {"CN": "OrcusServerCertificate"},
    "pupy-control": {"O": "QhTrmWxkPa"},
}


def _attributes(entry: Entry, which: str) -> list[tuple[str, str]]:
    rule = entry.subject if which == "subject" else entry.issuer
    assert rule is not None
    values = PATTERN_VALUES.get(entry.id, {})
    return [*rule.equals.items(), *((label, values[label]) for label in rule.patterns)]


def _certificate_for(entry: Entry) -> bytes:
    # an entry that states only the issuer says nothing of the subject: any leaf name will do
    subject = name(*_attributes(entry, "subject")) if entry.subject is not None else name(("CN", "203.0.113.7"))
    issuer = name(*_attributes(entry, "issuer")) if entry.issuer is not None else subject
    return pem_of(custom(subject, issuer=issuer, serial=entry.serial_int))


def _analyze(alert: CertificateAlert, **ctx: object):  # type: ignore[no-untyped-def]
    return analyze_alert(alert, AnalysisContext(at=NOW, **ctx))  # type: ignore[arg-type]


ATTRIBUTE_ENTRIES = [e for e in CATALOGUE.entries if not (e.sha1 or e.sha256 or e.md5)]
FINGERPRINT_ENTRIES = [e for e in CATALOGUE.entries if e.sha1 or e.sha256 or e.md5]


def test_the_catalogue_covers_forty_families_each_with_a_public_source():
    assert len(CATALOGUE.families) >= 40
    assert all(e.source.url.startswith("https://") and e.source.states for e in CATALOGUE.entries)


@pytest.mark.parametrize("entry", ATTRIBUTE_ENTRIES, ids=lambda e: e.id)
def test_every_attribute_entry_is_recognized(entry: Entry):
    alert = CertificateAlert(id="t", time=NOW, certificate_pem=_certificate_for(entry).decode())
    facts = _analyze(alert)
    found = {m.tool: m for m in facts.tools}
    assert entry.family in found, facts.tools
    assert found[entry.family].exact is (entry.verdict == "proof")
    assert found[entry.family].source is not None
    escalated = [r for r in facts.ioc_reasons if entry.family in r]
    assert bool(escalated) is (entry.verdict == "proof"), facts.ioc_reasons


@pytest.mark.parametrize("entry", ATTRIBUTE_ENTRIES, ids=lambda e: e.id)
def test_every_attribute_entry_is_recognized_from_logged_attributes(entry: Entry):
    pem = _certificate_for(entry)
    [cert] = load_certificates_quietly(pem)
    logged = LoggedCertificate(
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(), serial=f"{cert.serial_number:X}"
    )
    facts = _analyze(CertificateAlert(id="t", time=NOW, source_format="zeek-x509", logged_certificate=logged))
    assert facts.source == "log"
    assert entry.family in {m.tool for m in facts.tools}, facts.tools


@pytest.mark.parametrize(
    ("entry", "algorithm", "digest"),
    [
        (e, algorithm, digest)
        for e in FINGERPRINT_ENTRIES
        for algorithm in ("sha1", "sha256")
        for digest in getattr(e, algorithm)
    ],
    ids=lambda v: v.id if isinstance(v, Entry) else v[:12] if isinstance(v, str) and len(v) > 12 else str(v),
)
def test_every_catalogued_fingerprint_is_looked_up(entry: Entry, algorithm: str, digest: str):
    facts = _analyze(CertificateAlert(id="t", time=NOW, **{algorithm: digest.upper()}))
    assert facts.source == "fingerprint"
    [match] = [m for m in facts.tools if m.tool == entry.family]
    assert match.exact and any(entry.family in r for r in facts.ioc_reasons)


def test_an_attribute_entry_needs_every_stated_value():
    brute_ratel = name(("C", "US"), ("ST", "California"), ("O", "Microsoft"), ("OU", "Security"), ("CN", "localhost"))
    assert "brute-ratel" in {m.tool for m in _analyze_pem(pem_of(custom(brute_ratel))).tools}
    with_more = name(
        ("C", "US"), ("ST", "California"), ("O", "Microsoft"), ("OU", "Security"), ("CN", "localhost"), ("L", "x")
    )
    assert "brute-ratel" not in {m.tool for m in _analyze_pem(pem_of(custom(with_more))).tools}  # only: true
    gozi_other_serial = custom(name(("O", "Companyname")), serial=0x1234)
    assert "gozi" not in {m.tool for m in _analyze_pem(pem_of(gozi_other_serial)).tools}


def _analyze_pem(pem: bytes):  # type: ignore[no-untyped-def]
    return _analyze(CertificateAlert(id="t", time=NOW, certificate_pem=pem.decode()))


def test_a_shape_alone_never_escalates():
    subject = name(
        ("C", "GB"), ("ST", "London"), ("L", "London"), ("O", "Global Security"), ("OU", "IT Department"),
        ("CN", "example.com"),
    )  # fmt: skip
    facts = _analyze_pem(pem_of(custom(subject, sans=["example.com"])))
    [match] = [m for m in facts.tools if m.tool == "trickbot"]
    assert match.exact is False
    assert facts.ioc_reasons == []


BENIGN = sorted(p for p in X509_DATA.iterdir() if p.suffix in (".pem", ".der"))


@pytest.mark.parametrize("path", BENIGN, ids=lambda p: p.name)
def test_benign_real_certificates_match_no_entry(path: Path):
    data = path.read_bytes()
    certs = [x509.load_der_x509_certificate(data)] if path.suffix == ".der" else load_certificates_quietly(data)
    assert certs
    for cert in certs:
        facts = _analyze_pem(cert.public_bytes(Encoding.PEM))
        assert [m for m in facts.tools if m.source is not None] == [], cert.subject.rfc4514_string()


def test_a_configured_catalogue_replaces_the_shipped_one(tmp_path: Path):
    own = tmp_path / "catalogue.yaml"
    own.write_text(
        "version: 1\nupdated: 2026-12-01\nentries:\n"
        "- id: lab-tool\n  family: lab-tool\n  category: c2-framework\n  verdict: proof\n"
        "  subject: {equals: {CN: lab c2}, only: true}\n"
        "  source: {url: 'https://example.org/lab', states: the lab's own C2}\n"
    )
    pem = pem_of(custom(name(("CN", "lab c2"))))
    facts = _analyze(CertificateAlert(id="t", time=NOW, certificate_pem=pem.decode()), catalogue=own)
    assert [m.tool for m in facts.tools] == ["lab-tool"]


def test_an_unreadable_catalogue_is_a_note_not_a_crash(tmp_path: Path):
    broken = tmp_path / "catalogue.yaml"
    broken.write_text("version: 1\nentries: [")
    pem = pem_of(custom(name(("CN", "AsyncRAT Server"))))
    facts = _analyze(CertificateAlert(id="t", time=NOW, certificate_pem=pem.decode()), catalogue=broken)
    assert any("tool catalogue check was skipped" in n and "not valid YAML" in n for n in facts.notes)
    assert facts.tools == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("version: 1\nupdated: 2026-12-01\nentries: [{id: x1, family: xx, category: rat, verdict: proof,"
         " source: {url: 'https://e.org', states: s}}]", "either on fingerprints or on subject"),
        ("version: 1\nupdated: 2026-12-01\nentries: [{id: x1, family: xx, category: rat, verdict: sure,"
         " subject: {equals: {CN: a}}, source: {url: 'https://e.org', states: s}}]", "entries[0].verdict"),
        ("version: 1\nupdated: 2026-12-01\nentries: [{id: x1, family: xx, category: rat, verdict: shape,"
         " subject: {patterns: {CN: '(a'}}, source: {url: 'https://e.org', states: s}}]", "does not compile"),
        ("version: 1\nupdated: 2026-12-01\nentries: [{id: x1, family: xx, category: rat, verdict: shape,"
         " sha1: [abc], source: {url: 'https://e.org', states: s}}]", "40-digit hex"),
        ("version: 1\nupdated: 2026-12-01\nentries: [{id: x1, family: xx, category: rat, verdict: shape,"
         " subject: {equals: {CN: a}}, source: {url: 'http://e.org', states: s}}]", "https://"),
        ("version: 1\nupdated: 2026-12-01\nentries:\n- {id: x1, family: xx, category: rat, verdict: shape,"
         " subject: {equals: {CN: a}}, source: {url: 'https://e.org', states: s}}\n"
         "- {id: x1, family: yy, category: rat, verdict: shape,"
         " subject: {equals: {CN: b}}, source: {url: 'https://e.org', states: s}}", "duplicate entry ids"),
    ],
)  # fmt: skip
def test_a_bad_catalogue_is_refused_with_the_reason(body: str, says: str):
    with pytest.raises(CatalogueError, match=re.escape(says)):
        parse_catalogue(body)
