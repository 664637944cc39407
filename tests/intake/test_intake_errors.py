"""Malformed and hostile input: a clear AlertError that says what is wrong, never a traceback."""

from __future__ import annotations

import json

import pytest
from intake_data import INTAKE, ZEEK, zeek_one_line

from certsoar.errors import AlertError
from certsoar.intake import detect, load_alert

EVE_TLS = json.loads((ZEEK.parent / "suricata" / "eve.json").read_text().splitlines()[0])


def eve(**tls_changes: object) -> bytes:
    event = json.loads(json.dumps(EVE_TLS))
    for key, value in tls_changes.items():
        if value is None:
            event["tls"].pop(key, None)
        else:
            event["tls"][key] = value
    return json.dumps(event).encode()


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b'{"timestamp":"2026-05-31T09:0', None, "alert is not JSON: Unterminated string"),
        (
            b'{"event_type":"dns","timestamp":"2026-05-31T09:01:45Z","dns":{}}',
            None,
            "not suricata-tls: event_type is 'dns', not 'tls'",
        ),
        (b'{"event_type":"dns"}', "suricata-tls", "not suricata-tls: event_type is 'dns', not 'tls'"),
        (b'{"uid":"C1","ts":1}', None, "not zeek-ssl: no #fields header or _path/uid keys"),
        (
            eve(fingerprint=None, serial=None),
            None,
            "suricata-tls: the record names no certificate: it has no tls.fingerprint, tls.serial or tls.certificate",
        ),
        (eve(fingerprint="6e:ce:5e"), None, "suricata-tls: tls.fingerprint: '6e:ce:5e' is not a SHA-1 (40 hex digits)"),
        (eve(serial="not-hex"), None, "suricata-tls: tls.serial: 'not-hex' is not a hexadecimal serial number"),
        (eve(notafter="soon"), None, "suricata-tls: tls.notafter: 'soon' is not a time"),
        (eve(certificate="bm90IGEgY2VydA=="), None, "suricata-tls: tls.certificate: does not hold a certificate"),
        (b'{"_path":"conn","ts":1,"uid":"C1"}', "zeek-ssl", "not zeek-ssl: _path is 'conn', not 'ssl'"),
        (
            b'{"_path":"ssl","uid":"C1","id.resp_h":"1.2.3.4","cert_chain_fps":["abc"],"ts":1700000000}',
            None,
            "zeek-ssl: cert_chain_fps[0]: 'abc' is not a SHA-256, SHA-1 or MD5 in hex",
        ),
        (
            b'{"_path":"ssl","uid":"C1","id.resp_h":"1.2.3.4.5","ts":1700000000}',
            None,
            "zeek-ssl: id.resp_h: '1.2.3.4.5' is not an IP address",
        ),
        (b'{"_path":"x509","fingerprint":"aa","ts":1700000000}', None, "zeek-x509: fingerprint: 'aa' is not a SHA-256"),
        (
            b'{"@timestamp":"2026-01-01T00:00:00Z","tls":{"server":{"hash":{"sha256":"ABCD"}}}}',
            None,
            "ecs: tls.server.hash.sha256: 'ABCD' is not a SHA-256 (64 hex digits)",
        ),
        (
            b'{"tls":{"server":{"hash":{"sha1":"6ECE5ECE4192683D2D84E25B0BA7E04F9CB7EB7C"}}}}',
            None,
            "ecs: @timestamp: missing",
        ),
        (b'{"tls":{"server":{"ja3s":"x"}}}', "ecs", "ecs: @timestamp: missing"),
        (
            b'{"result":{"event_id":"n1","_time":"1717064102","ssl_hash":["aa","bb"]}}',
            None,
            "splunk-notable: ssl_hash: has 2 values",
        ),
        (
            b'{"result":{"event_id":"n1","_time":"1717064102","rule_name":"x"}}',
            None,
            "splunk-notable: the record names no certificate: it has no ssl_hash (SHA-1 or SHA-256) or ssl_serial",
        ),
        (
            b'{"results":[{"event_id":"a"},{"event_id":"b"}]}',
            "splunk-notable",
            "results holds 2 results; an alert is one notable event",
        ),
        (
            b'{"EventCode":"4887","_time":"2026-05-29T08:00:00Z","Requester":"CORP\\\\x"}',
            None,
            "adcs-4887: RequestId: missing",
        ),
        (b'{"EventCode":"4870","_time":"2026-05-29T08:00:00Z"}', None, "adcs-4870: CertificateSerialNumber: missing"),
        (
            b'{"EventCode":"4624","_time":"2026-05-29T08:00:00Z"}',
            "adcs",
            "not adcs: EventCode '4624' is not an AD CS certificate event",
        ),
        (b'{"EventCode":"4887","RequestId":"12"}', None, "adcs-4887: @timestamp / TimeCreated / SystemTime / _time"),
        (b'{"id":"a","time":"2026-01-01T00:00:00Z"}', None, "the alert names no certificate"),
        (b"[1, 2]", None, "alert must be a JSON object"),
        (b'{"a": NaN}', None, "alert is not JSON: NaN is not a JSON number"),
        (b"[" * 40 + b"]" * 40, None, "nested 33 levels deep"),
        (b"\x30\x82\x01\x00garbage", None, "not der: the DER bytes do not parse as an X.509 certificate"),
        (
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            None,
            "pem: the PEM block does not parse",
        ),
        (b"hello", None, "not a known alert format"),
        (b"   ", None, "alert is empty"),
        (
            b'{"id":"a","time":"2026-01-01T00:00:00Z","sha1":"' + b"a" * 40 + b'"}',
            "ecs",
            "not ecs: no tls.server.* or tls.client.* fields",
        ),
    ],
)
def test_bad_input_names_what_is_wrong(data: bytes, fmt: str | None, message: str) -> None:
    with pytest.raises(AlertError) as caught:
        load_alert(data, format=fmt)
    assert message in str(caught.value)


def test_unknown_format_name_lists_the_known_ones() -> None:
    with pytest.raises(AlertError, match="unknown alert format 'cef'; known: generic, pem, der"):
        load_alert(b"{}", format="cef")


def test_nothing_matches_lists_every_format_and_its_reason() -> None:
    with pytest.raises(AlertError) as caught:
        detect(b'{"event_type":"dns"}')
    text = str(caught.value)
    for fmt in ("generic", "pem", "der", "zeek-x509", "zeek-ssl", "suricata-tls", "adcs", "splunk-notable", "ecs"):
        assert f"not {fmt}" in text or f", {fmt}" in text


def test_ambiguous_input_is_refused_not_guessed() -> None:
    notable_of_adcs = b'{"event_id":"n1","rule_name":"ADCS","_time":"1717064102","EventCode":"4887","RequestId":"7"}'
    with pytest.raises(AlertError, match="ambiguous alert: it fits adcs and splunk-notable"):
        detect(notable_of_adcs)
    as_adcs = load_alert(notable_of_adcs, format="adcs")
    assert as_adcs.logged_certificate is not None and as_adcs.logged_certificate.request_id == "7"
    with pytest.raises(AlertError, match="splunk-notable: the record names no certificate"):
        load_alert(notable_of_adcs, format="splunk-notable")


def test_masked_zeek_timestamps_are_a_clear_error() -> None:
    data = zeek_one_line("scripts.base.protocols.ssl.basic.ssl.log", ts="XXXXXXXXXX.XXXXXX")
    with pytest.raises(AlertError, match=r"zeek-ssl: ts: 'XXXXXXXXXX.XXXXXX' is a masked timestamp"):
        load_alert(data)


def test_a_whole_zeek_log_is_not_one_alert() -> None:
    data = (ZEEK / "scripts.policy.protocols.ssl.validate-certs-no-cache.ssl.log").read_bytes()
    with pytest.raises(AlertError, match="the Zeek log has 3 data lines; an alert is one event"):
        load_alert(data, format="zeek-ssl")


def test_zeek_tsv_row_with_missing_columns() -> None:
    data = zeek_one_line("scripts.base.protocols.ssl.basic.x509.log").replace(b"\trsa\t", b"\t")
    with pytest.raises(AlertError, match="does not have as many columns as the #fields header"):
        load_alert(data)


def test_zeek_tsv_of_the_wrong_log_for_the_format() -> None:
    with pytest.raises(AlertError, match="not zeek-ssl: #path is 'x509', not 'ssl'"):
        load_alert(zeek_one_line("scripts.base.protocols.ssl.basic.x509.log"), format="zeek-ssl")


def test_zeek_ssl_of_a_tls13_session_names_the_missing_chain() -> None:
    with pytest.raises(AlertError, match="it has no cert_chain_fps .*TLS 1.3"):
        load_alert((INTAKE / "zeek" / "ssl.tls13-no-certificate.json").read_bytes())


@pytest.mark.parametrize("name", ["doctype-billion-laughs.xml", "external-entity.xml"])
def test_xml_with_doctype_or_entities_is_refused(name: str) -> None:
    data = (INTAKE / "adcs" / name).read_bytes()
    for fmt in (None, "adcs", "generic"):
        with pytest.raises(AlertError, match="refused: the XML declares a DOCTYPE or ENTITY"):
            load_alert(data, format=fmt)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            (INTAKE / "adcs" / "truncated-4887.xml").read_bytes(),
            "not adcs: alert is not Windows event XML: XML does not parse",
        ),
        (b"<Event><EventData/></Event>", "<Event> has no <System> element"),
        (b"<Events><Event><System/></Event><Event><System/></Event></Events>", "<Events> holds 2 <Event> elements"),
        (b"<html><body/></html>", "root element is <html>, not <Event>"),
        ((INTAKE / "adcs" / "4624-not-adcs.xml").read_bytes(), "EventID '4624' is not an AD CS certificate event"),
    ],
)
def test_bad_windows_xml(data: bytes, message: str) -> None:
    with pytest.raises(AlertError) as caught:
        load_alert(data)
    assert message in str(caught.value)


def test_oversized_input_is_refused_before_parsing() -> None:
    from certsoar.alert import MAX_ALERT_BYTES

    with pytest.raises(AlertError, match="larger than"):
        load_alert(b" " * (MAX_ALERT_BYTES + 1))


def test_certificate_with_an_invalid_version_is_an_alert_error() -> None:
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    leaf = x509.load_pem_x509_certificates((ZEEK.parent / "x509" / "cryptography.io.chain.pem").read_bytes())[0]
    der = leaf.public_bytes(serialization.Encoding.DER)
    bad = der.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x07", 1)
    assert bad != der
    with pytest.raises(AlertError, match="not der: the DER bytes do not parse"):
        load_alert(bad)
    with pytest.raises(AlertError, match="not der: .*7 is not a valid X509 version"):
        load_alert(bad, format="der")
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bad) + b"-----END CERTIFICATE-----\n"
    with pytest.raises(AlertError, match="pem: the PEM block does not parse"):
        load_alert(pem)
    event = dict(EVE_TLS, tls=dict(EVE_TLS["tls"], certificate=base64.b64encode(bad).decode()))
    with pytest.raises(AlertError, match="suricata-tls: tls.certificate: does not hold a certificate"):
        load_alert(json.dumps(event).encode())


def _damaged_pems() -> list[tuple[str, str]]:
    pem = (INTAKE.parent / "x509" / "custom__ca__ca.pem").read_text()
    lines = pem.splitlines()
    der_damaged = "\n".join([*lines[:3], lines[3][:10] + "AAAA" + lines[3][14:], *lines[4:]])
    base64_damaged = pem.replace(lines[2], lines[2][:-3] + "!!!")
    cut_short = "\n".join([lines[0], lines[1], lines[-1]])
    return [
        (der_damaged, "its DER encoding is malformed in TbsCertificate.spki"),
        (base64_damaged, "the PEM block is damaged"),
        (cut_short, "its DER encoding is cut short"),
    ]


@pytest.mark.parametrize(("pem", "message"), _damaged_pems())
def test_a_damaged_certificate_is_refused_at_intake_in_words(pem: str, message: str) -> None:
    alert = {"id": "n-1", "time": "2026-11-27T08:12:44Z", "certificate_pem": pem}
    with pytest.raises(AlertError) as refused:
        load_alert(json.dumps(alert).encode(), format="generic")
    text = str(refused.value)
    assert "certificate_pem is not a readable X.509 certificate" in text and message in text
    assert "ParseError" not in text and "{" not in text
