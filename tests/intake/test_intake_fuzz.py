"""Property tests of the one alert entry point, certsoar.intake.load_alert (and detect): arbitrary
bytes, arbitrary JSON, JSON built from each format's own keys, raw JSON text with the tokens parsers
trip on, Windows event XML, Zeek TSV, and damaged PEM/DER certificates give an alert or an
AlertError with a message, never another exception."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certsoar.alert import CertificateAlert
from certsoar.errors import AlertError
from certsoar.intake import FORMATS, detect, load_alert

FIXED = datetime(2026, 1, 1, tzinfo=timezone.utc)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)

FORMAT_KEYS = {
    "generic": ["id", "time", "sha256", "sha1", "certificate_pem", "src_ip", "dst_port", "logged_certificate"],
    "zeek": [
        "_path",
        "ts",
        "uid",
        "fingerprint",
        "certificate.serial",
        "certificate.subject",
        "certificate.not_valid_before",
        "id.orig_h",
        "id.resp_h",
        "id.resp_p",
        "server_name",
        "cert_chain_fps",
        "san.dns",
        "san.ip",
        "basic_constraints.ca",
        "certificate.key_length",
        "validation_status",
        "ja3",
    ],
    "suricata": [
        "event_type",
        "timestamp",
        "flow_id",
        "src_ip",
        "dest_ip",
        "dest_port",
        "tls",
        "tls.fingerprint",
        "tls.serial",
        "tls.notbefore",
        "tls.certificate",
        "tls.chain",
        "tls.ja3",
        "tls.subjectaltname",
    ],
    "adcs": [
        "EventID",
        "EventCode",
        "event.code",
        "winlog.event_id",
        "winlog.event_data",
        "@timestamp",
        "_time",
        "RequestId",
        "Requester",
        "SerialNumber",
        "CertificateSerialNumber",
        "SubjectKeyIdentifier",
        "Attributes",
        "Computer",
        "RecordNumber",
        "SubjectAlternativeName",
        "CertificateTemplate",
    ],
    "splunk": [
        "result",
        "results",
        "event_id",
        "rule_name",
        "_time",
        "src",
        "dest",
        "dest_port",
        "ssl_hash",
        "ssl_serial",
        "ssl_start_time",
        "ssl_end_time",
        "ssl_subject_common_name",
        "ssl_is_valid",
    ],
    "ecs": [
        "@timestamp",
        "_source",
        "_id",
        "event.id",
        "source.ip",
        "destination.port",
        "tls.server.hash.sha1",
        "tls.server.hash.sha256",
        "tls.server.x509.serial_number",
        "tls.server.x509.not_before",
        "tls.server.x509.alternative_names",
        "tls.server.certificate",
        "tls.client.ja3",
        "host.name",
    ],
}
plausible = st.sampled_from(
    [
        "tls",
        "4887",
        "4870",
        4886,
        "ssl",
        "x509",
        "2026-05-30T10:15:02Z",
        "1780000000.5",
        "XXXXXXXXXX.XXXXXX",
        "10.0.0.1",
        "6e:ce:5e:ce:41:92:68:3d:2d:84:e2:5b:0b:a7:e0:4f:9c:b7:eb:7c",
        "a" * 64,
        "00:C7:D4",
        "-1F",
        "T",
        "3",
        443,
        70000,
        "-----BEGIN CERTIFICATE-----",
        "MIIB",
        "DNS Name=x.example IP Address=10.1.1.1",
        "CertificateTemplate:Web",
    ]
)


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
        f'<Version>{version}</Version><TimeCreated SystemTime="{time}" /><Computer>ca01</Computer></System><EventData>'
        + "".join(f'<Data Name="{name}">{value}</Data>' for name, value in fields)
        + "</EventData></Event>"
    ),
    st.sampled_from(["4886", "4887", "4888", "4870", "4624", "", "x"]),
    st.sampled_from(["0", "1", ""]),
    st.sampled_from(["2026-05-29T07:59:58.6120447Z", "", "yesterday", "2026-13-01T00:00:00Z"]),
    st.lists(
        st.tuples(
            st.sampled_from(FORMAT_KEYS["adcs"][7:]),
            st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30).map(
                lambda s: s.replace("&", "&amp;").replace("<", "&lt;")
            ),
        ),
        max_size=6,
    ),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(xml_text, st.sampled_from([None, "adcs"]))
def test_windows_event_xml_variants(text: str, fmt: str | None) -> None:
    _check(text.encode(), fmt)


zeek_tsv = st.builds(
    lambda path, fields, row: (
        f"#separator \\x09\n#path\t{path}\n#fields\t" + "\t".join(fields) + "\n" + "\t".join(row) + "\n"
    ),
    st.sampled_from(["x509", "ssl", "conn", ""]),
    st.lists(st.sampled_from(FORMAT_KEYS["zeek"][1:]), min_size=1, max_size=8, unique=True),
    st.lists(
        st.sampled_from(["-", "(empty)", "XXXXXXXXXX.XXXXXX", "1700000000.5", "T", "zz", "a" * 64, "1.2.3.4", "443"]),
        min_size=1,
        max_size=8,
    ),
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


alert_keys = st.sampled_from(
    [
        "id",
        "time",
        "host",
        "src_ip",
        "dst_ip",
        "dst_port",
        "sni",
        "certificate_pem",
        "sha256",
        "sha1",
        "logged_certificate",
        "requester",
        "ja3",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(alert_keys, plausible | json_values, max_size=10), st.sampled_from([None, "generic"]))
def test_alert_shaped_json_gives_an_alert_or_an_error_naming_a_field(obj: dict, fmt: str | None) -> None:
    """What the generic format promises: a refused alert names the field (or the missing keys)."""
    obj = {"id": "a", "time": "2026-05-30T10:15:02Z", **obj}
    try:
        alert = load_alert(json.dumps(obj).encode(), format=fmt, observed_at=FIXED)
    except AlertError as exc:
        assert str(exc).startswith(("bad alert: ", "alert ", "not ", "ambiguous alert"))
    else:
        assert alert.certificate_pem or alert.sha256 or alert.sha1 or alert.logged_certificate


# raw JSON tokens that json.dumps never writes but a hostile or broken sender does
_TOKENS = st.sampled_from(
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "-1e999",
        "1" * 5000,
        '"\\ud800"',
        '"\\u0000"',
        '"\\udfff\\ud800"',
        "[" * 40 + "]" * 40,
        '{"a":' * 40 + "1" + "}" * 40,
        "true",
        "null",
        '""',
        '"2026-05-30T10:15:02+25:00"',
        '"0001-01-01T00:00:00+01:00"',
        '"9999-12-31T23:59:59-01:00"',
        "-0",
        "1.5e308",
        "253402300800",
        "-62135596801",
        '"\\x41"',
        "01",
        "[1,]",
    ]
)
_FIELDS = st.sampled_from(
    [
        "id",
        "time",
        "sha1",
        "sha256",
        "dst_ip",
        "dst_port",
        "ts",
        "@timestamp",
        "_time",
        "timestamp",
        "certificate.not_valid_before",
        "fingerprint",
        "event_type",
        "tls",
        "EventID",
    ]
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_FIELDS, _TOKENS | plausible.map(json.dumps)), min_size=1, max_size=6),
    st.sampled_from(["", "\ufeff", " \n"]),
    st.sampled_from([None, *FORMATS]),
)
def test_raw_json_text_with_hostile_tokens(pairs: list[tuple[str, str]], prefix: str, fmt: str | None) -> None:
    text = prefix + "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"
    _check(text.encode("utf-8", "surrogatepass"), fmt)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["utf-16", "utf-32", "latin-1", "utf-8-sig"]), st.sampled_from(FORMAT_KEYS["generic"]))
def test_other_text_encodings(encoding: str, key: str) -> None:
    _check(json.dumps({"id": "é", "time": "2026-05-30T10:15:02Z", key: "ü"}).encode(encoding))


_CERT_DER = (Path(__file__).resolve().parents[1] / "data" / "x509" / "e-trust.ru.der").read_bytes()


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=0, max_value=len(_CERT_DER) - 1),
    st.integers(min_value=0, max_value=255),
    st.sampled_from([None, "pem", "der", "generic"]),
    st.sampled_from(["der", "pem", "json"]),
)
def test_damaged_certificates(position: int, value: int, fmt: str | None, wrapping: str) -> None:
    damaged = bytearray(_CERT_DER)
    damaged[position] = value
    der = bytes(damaged)
    if wrapping == "der":
        data = der
    elif wrapping == "pem":
        data = _pem(der)
    else:
        data = json.dumps({"id": "x", "time": "2026-05-30T10:15:02Z", "certificate_pem": _pem(der).decode()}).encode()
    _check(data, fmt)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        [
            "{",
            "[",
            "<",
            "#fields\t",
            "#separator \\x09\n",
            "-----BEGIN CERTIFICATE-----\n",
            "0\x82",
            "<?xml ",
            "<!DOCTYPE x [<!ENTITY a 'b'>]>",
        ]
    ),
    st.binary(max_size=300),
)
def test_envelope_prefixes_with_garbage(prefix: str, tail: bytes) -> None:
    _check(prefix.encode("latin-1") + tail)
