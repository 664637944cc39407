"""Every supported format, from realistic records, normalized into one CertificateAlert."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from intake_data import INTAKE, LEAF_SHA1, LEAF_SHA256, ZEEK, zeek_one_line

from certsoar.intake import FORMATS, detect, load_alert


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def read(relative: str) -> bytes:
    return (INTAKE / relative).read_bytes()


def test_formats_are_the_documented_ones() -> None:
    assert FORMATS == (
        "generic",
        "pem",
        "der",
        "zeek-x509",
        "zeek-ssl",
        "suricata-tls",
        "adcs",
        "splunk-notable",
        "ecs",
    )


def test_zeek_x509_tsv_from_the_btest_baseline() -> None:
    data = zeek_one_line("scripts.base.protocols.ssl.basic.x509.log")
    assert detect(data) == "zeek-x509"
    alert = load_alert(data)
    logged = alert.logged_certificate
    assert alert.source_format == "zeek-x509" and alert.event == "x509"
    assert alert.sha256 == "a580247a25324adf4add5af648de4ac5798030dfd622f26a5f2280d7528ae244" and alert.sha1 is None
    assert alert.time == utc(2012, 4, 11, 0, 4, 37, 123456)
    assert logged is not None
    assert logged.serial == "36F5DA5300000000505E"
    assert logged.subject == "CN=*.gstatic.com,O=Google Inc,L=Mountain View,ST=California,C=US"
    assert logged.issuer == "CN=Google Internet Authority,O=Google Inc,C=US"
    assert logged.not_before == utc(2012, 4, 11, 0, 4, 37) and logged.not_after == utc(2013, 4, 11, 0, 14, 37)
    assert logged.san_dns == ["*.gstatic.com", "gstatic.com", "*.metric.gstatic.com"]
    assert (logged.key_type, logged.key_length, logged.version) == ("rsa", 1024, 3)
    assert logged.basic_constraints_ca is None
    assert alert.raw["certificate.serial"] == "36F5DA5300000000505E"


def test_zeek_x509_tsv_ca_certificate_and_leading_zero_serial() -> None:
    ca = load_alert(zeek_one_line("scripts.base.protocols.ssl.basic.x509.log", keep=1))
    assert ca.logged_certificate and ca.logged_certificate.basic_constraints_ca is True
    rdp = load_alert(zeek_one_line("scripts.base.protocols.rdp.rdp-x509.x509.log", keep=1))
    assert rdp.logged_certificate and rdp.logged_certificate.serial == "100000001"
    assert rdp.logged_certificate.subject.startswith("serialNumber=1BcKefYSF97EvkaiCqahPY8uPd0=")


def test_zeek_ssl_tsv_from_the_validate_certs_baseline() -> None:
    alert = load_alert(zeek_one_line("scripts.policy.protocols.ssl.validate-certs-no-cache.ssl.log", keep=1))
    assert alert.source_format == "zeek-ssl" and alert.id == "zeek-ClEkJM2Vm5giqnMf4h"
    assert (alert.src_ip, alert.dst_ip, alert.dst_port, alert.sni) == ("192.168.4.149", "72.167.102.91", 443, None)
    assert alert.sha256 == "b2e802a12cf20c0c3ad57e74c489c2cbb569de829c18257795a47fdcefc97ba3"
    assert alert.logged_certificate and alert.logged_certificate.validation_status == "ok"


def test_zeek_ssl_tsv_with_server_name() -> None:
    alert = load_alert(zeek_one_line("scripts.base.protocols.ssl.basic.ssl.log"))
    assert alert.sni == "ssl.gstatic.com" and alert.dst_ip == "74.125.224.79"
    assert alert.sha256 == "a580247a25324adf4add5af648de4ac5798030dfd622f26a5f2280d7528ae244"


def test_zeek_json_x509_with_epoch_times() -> None:
    alert = load_alert(read("zeek/x509.cryptography-io.json"))
    assert alert.source_format == "zeek-x509" and alert.sha256 == LEAF_SHA256
    assert alert.time == utc(2014, 11, 14, 10, 13, 20, 123456)
    assert alert.logged_certificate and alert.logged_certificate.basic_constraints_ca is False
    assert alert.id.startswith("zeek-x509-1415960000-")
    assert load_alert(read("zeek/x509.cryptography-io.json")).id == alert.id


def test_zeek_json_ssl_with_iso_time_path_and_ja3() -> None:
    alert = load_alert(read("zeek/ssl.cryptography-io.json"))
    assert alert.source_format == "zeek-ssl" and alert.id == "zeek-CqbRMd3DgQKsB1vXUe"
    assert alert.time == utc(2014, 11, 14, 10, 13, 20, 100001)
    assert alert.sha256 == LEAF_SHA256 and alert.sni == "www.cryptography.io"
    assert (alert.ja3, alert.ja3s) == ("e7d705a3286e19ea42f587b344ee6865", "ae4edc6faf64d08308082ad26be60767")
    assert alert.raw["_path"] == "ssl"


def test_suricata_tls_events_of_the_shared_eve_file() -> None:
    first = (ZEEK.parent / "suricata" / "eve.json").read_text().splitlines()[0]
    alert = load_alert(first.encode())
    logged = alert.logged_certificate
    assert alert.source_format == "suricata-tls" and alert.id == "suricata-1204917293847561"
    assert alert.sha1 == "6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c" and alert.sha256 is None
    assert alert.time == utc(2026, 5, 30, 10, 15, 2, 123456)
    assert (alert.src_ip, alert.dst_ip, alert.dst_port) == ("10.20.30.41", "203.0.113.66", 8443)
    assert alert.ja3 == "6734f37431670b3ab4292b8f60f29984" and alert.ja3s == "623de93db17d313345d7ea481e7443cf"
    assert logged and logged.serial == "C7D43A9E115B02" and logged.issuer.startswith("CN=Micr0soft Update")
    assert logged.not_before == utc(2026, 5, 29, 8) and logged.not_after == utc(2036, 5, 27, 8)


def test_suricata_tls_with_logged_certificate_and_chain() -> None:
    alert = load_alert(read("suricata/tls-with-certificate.json"))
    assert alert.certificate_pem and alert.certificate_pem.count("-----BEGIN CERTIFICATE-----") == 2
    assert (alert.sha256, alert.sha1) == (LEAF_SHA256, LEAF_SHA1)
    assert alert.time == utc(2014, 11, 14, 10, 13, 20, 100001)  # -0500 offset converted to UTC
    assert alert.host == "sensor-dmz-1"


def test_suricata_empty_ja3_objects_are_absent_values() -> None:
    third = (ZEEK.parent / "suricata" / "eve.json").read_text().splitlines()[2]
    alert = load_alert(third.encode())
    assert alert.ja3 is None and alert.ja3s is None


@pytest.mark.parametrize(
    ("name", "event", "request_id", "serial", "template", "requester"),
    [
        ("4886-v1.xml", "adcs-4886", "4417", None, "WebServer", "CORP\\svc-webdeploy"),
        (
            "4887-v1.xml",
            "adcs-4887",
            "4417",
            "7A0000114F3C9B2E5D81A6F0C4000000001141",
            "WebServer",
            "CORP\\svc-webdeploy",
        ),
        ("4887-v0.xml", "adcs-4887", "1288", None, "Machine", "CORP\\WS-0142$"),
        ("4888-v1.xml", "adcs-4888", "4419", None, "WebServer_old", "CORP\\jdoe"),
        ("4870-v0.xml", "adcs-4870", None, "7A0000114F3C9B2E5D81A6F0C4000000001141", None, None),
        (
            "4887-v1.winlogbeat.json",
            "adcs-4887",
            "4417",
            "7A0000114F3C9B2E5D81A6F0C4000000001141",
            "WebServer",
            "CORP\\svc-webdeploy",
        ),
        ("4886-v0.splunk.json", "adcs-4886", "1288", None, "Machine", "CORP\\WS-0142$"),
        ("4870-v0.splunk-xml.json", "adcs-4870", None, "7A0000114F3C9B2E5D81A6F0C4000000001141", None, None),
    ],
)
def test_adcs_events_in_xml_and_json(
    name: str, event: str, request_id: str | None, serial: str | None, template: str | None, requester: str | None
) -> None:
    data = read(f"adcs/{name}")
    assert detect(data) == "adcs"
    alert = load_alert(data)
    logged = alert.logged_certificate
    assert alert.source_format == "adcs" and alert.event == event
    assert alert.host == "ca01.corp.example.com"
    assert alert.time.tzinfo is not None and alert.time.utcoffset().total_seconds() == 0
    assert logged is not None
    assert (logged.request_id, logged.serial, logged.template, alert.requester) == (
        request_id,
        serial,
        template,
        requester,
    )
    assert alert.sha1 is None and alert.sha256 is None


def test_adcs_xml_and_winlogbeat_renderings_agree() -> None:
    xml = load_alert(read("adcs/4887-v1.xml"))
    beat = load_alert(read("adcs/4887-v1.winlogbeat.json"))
    assert xml.logged_certificate == beat.logged_certificate
    assert xml.id == beat.id == "adcs-ca01.corp.example.com-918207"
    assert (
        xml.logged_certificate
        and xml.logged_certificate.subject_key_identifier == "5e0a91c427d3881f6b42e09d3a7c55b102ee4f19"
    )
    assert xml.logged_certificate.san_dns == ["update.micr0soft-cdn.com"] and xml.logged_certificate.san_ip == [
        "203.0.113.66"
    ]
    assert xml.raw["EventData"]["Disposition"] == "3" and xml.raw["System"]["Version"] == "1"
    assert xml.time == datetime(2026, 5, 29, 7, 59, 58, 612044, tzinfo=timezone.utc)


def test_adcs_fixture_fields_are_the_ossem_ones() -> None:
    """The v0 fixtures use exactly the EventData names of the OSSEM-DD dictionaries."""
    import yaml

    for code, fixture in (("4887", "4887-v0.xml"), ("4870", "4870-v0.xml")):
        spec = yaml.safe_load((INTAKE / "adcs" / "ossem" / f"event-{code}.yml").read_text())
        names = [field["name"] for field in spec["event_fields"]]
        alert = load_alert(read(f"adcs/{fixture}"))
        assert list(alert.raw["EventData"]) == names


def test_splunk_notable_export_line() -> None:
    alert = load_alert(read("splunk/notable-export.json"))
    logged = alert.logged_certificate
    assert alert.source_format == "splunk-notable" and alert.event == "notable"
    assert alert.id.startswith("splunk-E8A3C3D1-7B44-4F0B-9B1E-2C1C0F6E9A11@@notable@@")
    assert (alert.src_ip, alert.dst_ip, alert.dst_port, alert.host) == (
        "192.0.2.15",
        "198.51.100.80",
        443,
        "sensor-dmz-1",
    )
    assert alert.sha256 == LEAF_SHA256
    assert logged and logged.serial == "3F20" and logged.subject == "CN=www.cryptography.io"
    assert logged.not_after == utc(2018, 11, 16, 1, 15, 3) and logged.validation_status == "ssl_is_valid=false"


def test_splunk_job_results_with_multivalue_and_openssl_times() -> None:
    alert = load_alert(read("splunk/notable-job-results.json"))
    assert alert.src_ip == "10.20.30.41" and alert.sha1 == "6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c"
    assert alert.logged_certificate and alert.logged_certificate.not_before == utc(2026, 5, 29, 8)
    assert alert.time == utc(2024, 5, 30, 10, 15, 2)


def test_ecs_search_hit() -> None:
    alert = load_alert(read("ecs/tls-search-hit.json"))
    logged = alert.logged_certificate
    assert alert.source_format == "ecs" and alert.id == "ecs-9bd1f1c0-6c0e-4b1e-9d7e-3c2f1d0a0001"
    assert (alert.sha256, alert.sha1) == (LEAF_SHA256, LEAF_SHA1)
    assert (alert.src_ip, alert.dst_ip, alert.dst_port, alert.host) == (
        "192.0.2.15",
        "198.51.100.80",
        443,
        "sensor-dmz-1",
    )
    assert alert.sni == "www.cryptography.io" and alert.ja3s == "ae4edc6faf64d08308082ad26be60767"
    assert (
        logged
        and logged.serial == "3F20"
        and logged.key_length == 2048
        and logged.san_dns == ["www.cryptography.io", "cryptography.io"]
    )
    assert alert.raw["_id"] == "pQ3xV4sBq2k9Jr7cT0aa"


def test_ecs_dotted_document_without_hit_wrapper() -> None:
    doc = (
        b'{"@timestamp":"2026-05-30T10:15:02Z","event.id":"e-1","source.ip":"10.0.0.5","tls.server.hash.sha1":'
        b'"6ECE5ECE4192683D2D84E25B0BA7E04F9CB7EB7C","tls.server.x509.serial_number":"00C7D43A9E115B02"}'
    )
    alert = load_alert(doc)
    assert alert.id == "ecs-e-1" and alert.sha1 == "6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c"
    assert alert.logged_certificate and alert.logged_certificate.serial == "C7D43A9E115B02"


def test_generic_alert_is_the_existing_format() -> None:
    alert = load_alert(read("generic/alert.json"))
    assert alert.source_format == "generic" and alert.id == "soc-2026-0529-0042"
    assert alert.sha1 == "6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c"


def test_pem_chain_and_der() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    pem = (ZEEK.parent / "x509" / "cryptography.io.chain.pem").read_bytes()
    when = utc(2015, 1, 1)
    from_pem = load_alert(pem, observed_at=when)
    assert from_pem.source_format == "pem" and from_pem.id == f"pem-{LEAF_SHA256[:16]}"
    assert (from_pem.sha256, from_pem.sha1, from_pem.time) == (LEAF_SHA256, LEAF_SHA1, when)
    assert from_pem.certificate_pem and from_pem.certificate_pem.count("BEGIN CERTIFICATE") == 2
    der = x509.load_pem_x509_certificates(pem)[0].public_bytes(serialization.Encoding.DER)
    assert detect(der) == "der"
    from_der = load_alert(der)
    assert from_der.source_format == "der" and from_der.sha256 == LEAF_SHA256
    assert (datetime.now(timezone.utc) - from_der.time).total_seconds() < 60


REFUSED_FIXTURES = {
    "4624-not-adcs.xml": "not a known alert format",
    "truncated-4887.xml": "not a known alert format",
    "doctype-billion-laughs.xml": "the XML declares a DOCTYPE or ENTITY",
    "external-entity.xml": "the XML declares a DOCTYPE or ENTITY",
    "ssl.tls13-no-certificate.json": "zeek-ssl: the record names no certificate",
}


@pytest.mark.parametrize("path", sorted(p for p in INTAKE.rglob("*") if p.suffix in (".json", ".xml")))
def test_every_fixture_loads_with_its_detected_format_or_fails_as_expected(path: Path) -> None:
    from certsoar.errors import AlertError

    data = path.read_bytes()
    expected_error = REFUSED_FIXTURES.get(path.name)
    if expected_error is not None:
        with pytest.raises(AlertError, match=expected_error):
            load_alert(data, format=detect(data))
        return
    fmt = detect(data)
    alert = load_alert(data, format=fmt)
    assert alert.source_format == fmt and alert.time.tzinfo is not None and isinstance(alert.raw, dict) and alert.raw
