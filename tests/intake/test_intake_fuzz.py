"""Property tests: arbitrary bytes, arbitrary JSON and JSON built from each format's own keys into
load_alert and detect: an alert or an AlertError with a message, never another exception."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certsoar.alert import CertificateAlert
from certsoar.errors import AlertError
from certsoar.intake import FORMATS, detect, load_alert

FIXED = datetime(2026, 1, 1, tzinfo=timezone.utc)

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)

FORMAT_KEYS = {
    "generic": ["id", "time", "sha256", "sha1", "certificate_pem", "src_ip", "dst_port", "logged_certificate"],
    "zeek": ["_path", "ts", "uid", "fingerprint", "certificate.serial", "certificate.subject", "certificate.not_valid_before",
             "id.orig_h", "id.resp_h", "id.resp_p", "server_name", "cert_chain_fps", "san.dns", "san.ip", "basic_constraints.ca",
             "certificate.key_length", "validation_status", "ja3"],
    "suricata": ["event_type", "timestamp", "flow_id", "src_ip", "dest_ip", "dest_port", "tls", "tls.fingerprint", "tls.serial",
                 "tls.notbefore", "tls.certificate", "tls.chain", "tls.ja3", "tls.subjectaltname"],
    "adcs": ["EventID", "EventCode", "event.code", "winlog.event_id", "winlog.event_data", "@timestamp", "_time", "RequestId",
             "Requester", "SerialNumber", "CertificateSerialNumber", "SubjectKeyIdentifier", "Attributes", "Computer",
             "RecordNumber", "SubjectAlternativeName", "CertificateTemplate"],
    "splunk": ["result", "results", "event_id", "rule_name", "_time", "src", "dest", "dest_port", "ssl_hash", "ssl_serial",
               "ssl_start_time", "ssl_end_time", "ssl_subject_common_name", "ssl_is_valid"],
    "ecs": ["@timestamp", "_source", "_id", "event.id", "source.ip", "destination.port", "tls.server.hash.sha1",
            "tls.server.hash.sha256", "tls.server.x509.serial_number", "tls.server.x509.not_before",
            "tls.server.x509.alternative_names", "tls.server.certificate", "tls.client.ja3", "host.name"],
}
plausible = st.sampled_from([
    "tls", "4887", "4870", 4886, "ssl", "x509", "2026-05-30T10:15:02Z", "1780000000.5", "XXXXXXXXXX.XXXXXX", "10.0.0.1",
    "6e:ce:5e:ce:41:92:68:3d:2d:84:e2:5b:0b:a7:e0:4f:9c:b7:eb:7c", "a" * 64, "00:C7:D4", "-1F", "T", "3", 443, 70000,
    "-----BEGIN CERTIFICATE-----", "MIIB", "DNS Name=x.example IP Address=10.1.1.1", "CertificateTemplate:Web",
])


def _nest(key: str, value: object) -> dict:
    node: object = value
    for part in reversed(key.split(".")):
        node = {part: node}
    return node  # type: ignore[return-value]


@st.composite
def format_shaped(draw: st.DrawFn) -> dict:
    keys = FORMAT_KEYS[draw(st.sampled_from(sorted(FORMAT_KEYS)))]
    doc: dict = {}
    for key in draw(st.lists(st.sampled_from(keys), max_size=10)):
        value = draw(plausible | json_values)
        if draw(st.booleans()):
            doc[key] = value
        else:
            doc.update(_nest(key, value))
    if draw(st.booleans()):
        doc = {draw(st.sampled_from(["result", "_source", "winlog"])): doc}
    return doc


def _check(data: bytes, fmt: str | None = None) -> None:
    try:
        alert = load_alert(data, format=fmt, observed_at=FIXED)
    except AlertError as exc:
        assert str(exc)
    else:
        assert isinstance(alert, CertificateAlert) and alert.source_format in FORMATS
        assert alert.time.tzinfo is not None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_value(value: object) -> None:
    _check(json.dumps(value).encode())


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(format_shaped(), st.sampled_from([None, *FORMATS]))
def test_json_built_from_each_formats_keys(doc: dict, fmt: str | None) -> None:
    _check(json.dumps(doc).encode(), fmt)


xml_text = st.builds(
    lambda code, version, time, fields: (
        f'<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><EventID>{code}</EventID>'
        f"<Version>{version}</Version><TimeCreated SystemTime=\"{time}\" /><Computer>ca01</Computer></System><EventData>"
        + "".join(f'<Data Name="{name}">{value}</Data>' for name, value in fields)
        + "</EventData></Event>"
    ),
    st.sampled_from(["4886", "4887", "4888", "4870", "4624", "", "x"]),
    st.sampled_from(["0", "1", ""]),
    st.sampled_from(["2026-05-29T07:59:58.6120447Z", "", "yesterday", "2026-13-01T00:00:00Z"]),
    st.lists(st.tuples(st.sampled_from(FORMAT_KEYS["adcs"][7:]),
                       st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
                       .map(lambda s: s.replace("&", "&amp;").replace("<", "&lt;"))), max_size=6),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(xml_text, st.sampled_from([None, "adcs"]))
def test_windows_event_xml_variants(text: str, fmt: str | None) -> None:
    _check(text.encode(), fmt)


zeek_tsv = st.builds(
    lambda path, fields, row: f"#separator \\x09\n#path\t{path}\n#fields\t" + "\t".join(fields) + "\n" + "\t".join(row) + "\n",
    st.sampled_from(["x509", "ssl", "conn", ""]),
    st.lists(st.sampled_from(FORMAT_KEYS["zeek"][1:]), min_size=1, max_size=8, unique=True),
    st.lists(st.sampled_from(["-", "(empty)", "XXXXXXXXXX.XXXXXX", "1700000000.5", "T", "zz", "a" * 64, "1.2.3.4", "443"]),
             min_size=1, max_size=8),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(zeek_tsv)
def test_zeek_tsv_variants(text: str) -> None:
    _check(text.encode())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_detect_only_raises_alert_error(data: bytes) -> None:
    try:
        assert detect(data) in FORMATS
    except AlertError as exc:
        assert str(exc)
