from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from certsoar.connectors.siem import SiemEvent
from certsoar.correlation.burst import Incident, decide, exclude, incidents_from_events, unrelated_groups

AT = datetime(2026, 5, 30, 12, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)
WINDOW, SHORT = 24 * H, H
RENEWAL = timedelta(days=30)


def inc(
    minutes: float,
    host: str | None = None,
    requester: str | None = None,
    subject: str | None = None,
    *,
    kind: str = "command",
    key_id: str | None = None,
    template: str | None = None,
    certificate: str | None = None,
    evidence: str | None = None,
) -> Incident:
    return Incident(
        time=AT + timedelta(minutes=minutes),
        host=host,
        requester=requester,
        subject=subject,
        kind=kind,  # type: ignore[arg-type]
        evidence=evidence or f"e{minutes}{host}{requester}{subject}",
        source="test",
        key_id=key_id,
        template=template,
        certificate=certificate,
    )


def run(incidents: list[Incident]):
    return decide(incidents, AT, window=WINDOW, count=3, short_window=SHORT, short_count=2)


# (case, incidents, burst, unrelated in 24h window, unrelated in 1h window)
TABLE = [
    ("nothing", [], False, 0, 0),
    ("one incident", [inc(0, "ws1", "a", "CN=a")], False, 1, 1),
    (
        "two unrelated within 1h fire the short window",
        [inc(-10, "ws1", "a", "CN=a"), inc(20, "ws2", "b", "CN=b")],
        True,
        2,
        2,
    ),
    (
        "two unrelated 3h apart: neither window",
        [inc(-90, "ws1", "a", "CN=a"), inc(90, "ws2", "b", "CN=b")],
        False,
        2,
        0,
    ),
    (
        "three unrelated in 20h fire the long window",
        [inc(-600, "ws1", "a", "CN=a"), inc(0, "ws2", "b", "CN=b"), inc(600, "ws3", "c", "CN=c")],
        True,
        3,
        1,
    ),
    ("same host relates", [inc(-5, "ws1", "a", "CN=a"), inc(5, "WS1.corp.example", "b", "CN=b")], False, 1, 1),
    (
        "same requester relates (domain spelled differently)",
        [inc(-5, "ws1", "CORP\\alice", "CN=a"), inc(5, "ws2", "alice@corp.example", "CN=b")],
        False,
        1,
        1,
    ),
    (
        "same subject relates (DN spelled differently)",
        [inc(-5, "ws1", "a", "CN=x,O=Acme"), inc(5, "ws2", "b", "O=Acme, CN=x")],
        False,
        1,
        1,
    ),
    (
        "chain a-b-c is one group",
        [inc(-600, "ws1", "a", "CN=a"), inc(0, "ws1", "b", "CN=b"), inc(600, "ws2", "b", "CN=c")],
        False,
        1,
        1,
    ),
    ("unknown identities relate to nothing", [inc(-5, None, None, None), inc(5, None, None, None)], True, 2, 2),
    (
        "outside the 24h window around the alert",
        [inc(-2000, "ws1", "a", "CN=a"), inc(-1900, "ws2", "b", "CN=b"), inc(-1800, "ws3", "c", "CN=c")],
        False,
        0,
        0,
    ),
    (
        "no 24h window holds all three",
        [inc(-1430, "ws1", "a", "CN=a"), inc(-1420, "ws2", "b", "CN=b"), inc(60, "ws3", "c", "CN=c")],
        False,
        2,
        1,
    ),
    (
        "three within 24h before the alert",
        [inc(-1430, "ws1", "a", "CN=a"), inc(-1420, "ws2", "b", "CN=b"), inc(-1000, "ws3", "c", "CN=c")],
        True,
        3,
        0,
    ),
    ("four related in an hour are one", [inc(m, "ws1", f"u{m}", f"CN={m}") for m in (0, 10, 20, 30)], False, 1, 1),
]


@pytest.mark.parametrize(("case", "incidents", "burst", "long_n", "short_n"), TABLE, ids=[row[0] for row in TABLE])
def test_burst_decision_table(case, incidents, burst, long_n, short_n):
    decision = run(incidents)
    assert (decision.burst, decision.unrelated_in_window, decision.unrelated_in_short_window) == (
        burst,
        long_n,
        short_n,
    ), decision.reason
    assert decision.reason.startswith(
        "burst" if burst else ("no certificate-creation" if not incidents else "no burst")
    )


def test_reason_names_groups_and_thresholds():
    decision = run([inc(-10, "ws1", "CORP\\alice", "CN=a"), inc(20, "ws2", "CORP\\bob", "CN=b")])
    assert "2 unrelated certificate creations within 1h (escalates at 2 in 1h or 3 in 1d)" in decision.reason
    assert "ws1 by CORP\\alice (command); ws2 by CORP\\bob (command)" in decision.reason
    assert {i.group for i in decision.window_incidents} == {1, 2}


def test_thresholds_come_from_the_caller():
    incidents = [inc(-10, "ws1", "a", "CN=a"), inc(20, "ws2", "b", "CN=b")]
    assert not decide(incidents, AT, window=WINDOW, count=3, short_window=SHORT, short_count=3).burst
    assert decide(incidents, AT, window=WINDOW, count=2, short_window=timedelta(minutes=5), short_count=2).burst


# --- exclusions --------------------------------------------------------------------------------------------------

EXCLUSIONS = [
    (
        "automation by full account",
        [inc(0, "ws1", "CORP\\svc-acme", "CN=a")],
        ["CORP\\svc-acme"],
        0,
        "allowlisted automation",
    ),
    (
        "automation by bare account name",
        [inc(0, "ws1", "corp\\SVC-ACME", "CN=a")],
        ["svc-acme"],
        0,
        "allowlisted automation",
    ),
    (
        "automation by template",
        [inc(0, None, "CORP\\WS1$", "CN=ws1", kind="adcs-4887", template="Machine")],
        ["machine"],
        0,
        "allowlisted automation",
    ),
    (
        "other domain's account is not the automation",
        [inc(0, "ws1", "EVIL\\svc-acme", "CN=a")],
        ["CORP\\svc-acme"],
        1,
        None,
    ),
    (
        "renewal: same subject and key within 30d",
        [
            inc(-20 * 1440, "ws1", "a", "CN=w", key_id="K1", kind="adcs-4887", certificate="S1"),
            inc(0, "ws1", "a", "CN=w", key_id="k1", kind="adcs-4887", certificate="S2"),
        ],
        [],
        1,
        "renewal",
    ),
    (
        "same subject, new key is no renewal",
        [
            inc(-20 * 1440, "ws1", "a", "CN=w", key_id="K1", kind="adcs-4887", certificate="S1"),
            inc(0, "ws1", "a", "CN=w", key_id="K2", kind="adcs-4887", certificate="S2"),
        ],
        [],
        2,
        None,
    ),
    (
        "same key after the renewal window counts again",
        [
            inc(-40 * 1440, "ws1", "a", "CN=w", key_id="K1", kind="adcs-4887", certificate="S1"),
            inc(0, "ws1", "a", "CN=w", key_id="K1", kind="adcs-4887", certificate="S2"),
        ],
        [],
        2,
        None,
    ),
    (
        "the same AD CS issuance logged twice",
        [
            inc(0, None, "a", "CN=w", kind="adcs-4887", certificate="S1"),
            inc(3, None, "a", "CN=w", kind="adcs-4887", certificate="S1"),
        ],
        [],
        1,
        "duplicate",
    ),
    (
        "the same command twice within 2 minutes",
        [inc(0, "ws1", "a", evidence="x"), inc(1, "ws1", "a", evidence="x")],
        [],
        1,
        "duplicate",
    ),
    (
        "the same command an hour later counts",
        [inc(0, "ws1", "a", evidence="x"), inc(60, "ws1", "a", evidence="x")],
        [],
        2,
        None,
    ),
]


@pytest.mark.parametrize(
    ("case", "incidents", "automation", "kept_n", "why"), EXCLUSIONS, ids=[row[0] for row in EXCLUSIONS]
)
def test_exclusion_table(case, incidents, automation, kept_n, why):
    kept, excluded = exclude(incidents, automation, RENEWAL)
    assert len(kept) == kept_n
    if why is None:
        assert excluded == []
    else:
        assert len(excluded) == len(incidents) - kept_n and why in str(excluded[0])


def test_groups_are_connected_components():
    groups = unrelated_groups([inc(0, "h1", "a"), inc(1, "h2", "b"), inc(2, "h2", "a"), inc(3, "h3", "c")])
    assert [len(g) for g in groups] == [3, 1]


# --- incidents from events -----------------------------------------------------------------------------------------


def event(minutes: float, kind: str, **fields) -> SiemEvent:
    return SiemEvent(time=AT + timedelta(minutes=minutes), source="t (x)", kind=kind, matched=[], **fields)


def test_incidents_from_events():
    events = [
        event(
            0,
            "adcs",
            event_code="4887",
            disposition="3",
            requester="CORP\\WS-077$",
            subject="CN=ws-077",
            serial="AA",
            subject_key_id="11",
        ),
        event(1, "adcs", event_code="4887", requester="CORP\\bob", subject="CN=bob"),  # v0 without disposition: issued
        event(2, "adcs", event_code="4888", disposition="-2146875392", requester="CORP\\mallory"),  # denied
        event(3, "adcs", event_code="4887", disposition="2", requester="CORP\\eve"),  # pending, not issued
        event(
            4,
            "process",
            host="WS-1",
            requester="CORP\\alice",
            command='openssl req -x509 -subj "/CN=c2.example" -key k',
        ),
        event(5, "process", host="WS-1", command="openssl x509 -in c.pem -text"),
        event(6, "script", host="WS-2", command="$c = New-SelfSignedCertificate -Subject CN=vpn"),
        # certificate seen three times: incident at its first sighting, untrusted by the sensor's verdict
        event(7, "tls", sha256="aa" * 32, dst_ip="203.0.113.66", validation_status="self signed certificate"),
        event(8, "x509", sha256="aa" * 32, subject="CN=c2"),
        event(9, "tls", sha256="aa" * 32, validation_status="self signed certificate"),
        # self-signed by name (Suricata: no validation status)
        event(10, "tls", sha1="bb" * 20, subject="C=US, CN=x", issuer="CN=x,C=US", dst_ip="198.51.100.9"),
        # trusted
        event(11, "tls", sha256="cc" * 32, validation_status="ok", subject="CN=good", issuer="CN=CA"),
    ]
    found = incidents_from_events(events)
    assert [(i.kind, i.time.minute) for i in found] == [
        ("adcs-4887", 0),
        ("adcs-4887", 1),
        ("command", 4),
        ("command", 6),
        ("first-seen-untrusted", 7),
        ("first-seen-untrusted", 10),
    ]
    adcs = found[0]
    assert adcs.host == "ws-077" and adcs.key_id == "11" and adcs.certificate == "AA"
    command = found[2]
    assert command.subject == "/CN=c2.example" and command.evidence.startswith("openssl req -x509: ")
    first_seen = found[4]
    assert (
        first_seen.host == "203.0.113.66"
        and first_seen.subject == "CN=c2"
        and "validation_status 'self signed certificate'" in first_seen.evidence
    )
    assert "subject equals issuer" in found[5].evidence


def test_only_a_ca_logged_only_in_chains_is_no_creation_incident():
    """A self-signed certificate the sensor logged as a chain element (Zeek x509 host_cert F) is no incident when it
    is a CA (a root the server sent along); as the host's own, as a chain element that is no CA, or logged without
    its role, it still is; one host sighting makes the certificate count whatever its chain sightings say."""
    root = {"subject": "CN=Root,O=Example", "issuer": "CN=Root,O=Example"}
    events = [
        event(0, "x509", sha256="01" * 32, host_cert=False, ca=True, **root),
        event(1, "x509", sha256="01" * 32, host_cert=False, ca=True, **root),
        event(2, "x509", sha256="02" * 32, host_cert=True, ca=True, subject="CN=implant", issuer="CN=implant"),
        event(3, "x509", sha256="03" * 32, host_cert=False, ca=False, subject="CN=odd", issuer="CN=odd"),
        event(4, "x509", sha256="04" * 32, host_cert=False, ca=None, subject="CN=bare", issuer="CN=bare"),
        event(5, "x509", sha256="05" * 32, host_cert=None, ca=True, subject="CN=old", issuer="CN=old"),
        event(6, "x509", sha256="06" * 32, host_cert=False, ca=True, subject="CN=both", issuer="CN=both"),
        event(7, "x509", sha256="06" * 32, host_cert=True, ca=True, subject="CN=both", issuer="CN=both"),
    ]
    found = incidents_from_events(events)
    assert [(i.certificate, i.time.minute) for i in found] == [
        ("02" * 32, 2),
        ("03" * 32, 3),
        ("04" * 32, 4),
        ("05" * 32, 5),
        ("06" * 32, 6),  # first seen in a chain, counted because it was also served as a host's own
    ]
