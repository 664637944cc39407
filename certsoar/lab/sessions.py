"""The TLS sessions the sensors saw: nine days of ordinary traffic plus both stories' connections.

``rng`` (fixed seed) shapes the traffic; uids and flow ids come from a second generator seeded with the
build time, so they are unique per build while the traffic stays the same.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from certsoar.lab.story import (
    LOG_SPAN,
    MIMICRY_CLIENT,
    MIMICRY_FIRST_SEEN,
    MIMICRY_HOST,
    MIMICRY_SERVERS,
    ROGUE_FIRST_SEEN,
    ROGUE_HOST,
    ROGUE_SERVER,
)

RESOLVER = "10.20.0.2"
"""The DNS server the clients ask before their first session to a name."""


@dataclass(frozen=True)
class Session:
    """One TLS connection as the sensors saw it: Zeek conn.log + ssl.log (same uid) and a Suricata tls event."""

    ts: datetime
    uid: str
    flow_id: int
    client: str
    client_port: int
    server: str
    port: int
    sni: str
    chain: tuple[x509.Certificate, ...]
    """Empty for TLS 1.3, where the certificate is encrypted."""
    validation: str
    orig_bytes: int
    """Client → server payload bytes."""
    resp_bytes: int
    duration: float


# The internal servers send leaf + CA, and the sensor trusts the internal CA (as the
# organization's clients do): their chains validate, the rogue one included.
_VALID = "ok"
_UNTRUSTED = "self signed certificate"
_TLS13 = "-"

_BASELINE_SERVERS = (
    # server, port, SNI, weight; the two internal ones present a chain (TLS 1.2), the others hide it (TLS 1.3)
    ("10.20.1.10", 443, "intranet.corp.example", 5),
    ("10.20.1.11", 443, "wiki.corp.example", 4),
    ("192.0.2.80", 443, "www.example.org", 3),
    ("192.0.2.81", 443, "updates.example.net", 2),
    ("192.0.2.82", 443, "mail.example.com", 3),
    ("198.51.100.10", 443, "files.example.com", 2),
)
_STORY_CLIENTS = (MIMICRY_CLIENT, "10.20.0.52", "10.20.0.61", "10.20.0.88")
_UPDATE_SERVICE = ("192.0.2.81", 443, "updates.example.net")
_OFFICE_HOURS = range(7, 19)
_MAX_ORDINARY_UPLOAD = 1_500_000
_UID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class _Sessions:
    """Collects sessions; ``rng`` shapes traffic (fixed seed), ``ids`` makes uids/flow ids unique per build."""

    def __init__(self, now: datetime, leaves: dict[str, x509.Certificate], ca: x509.Certificate) -> None:
        self.rng = random.Random(1587003)
        self.ids = random.Random(f"certsoar-lab-{now.isoformat()}")
        self.leaves = leaves
        self.ca = ca
        self.out: list[Session] = []

    def add(
        self,
        ts: datetime,
        client: str,
        server: str,
        port: int,
        sni: str,
        chain: tuple[x509.Certificate, ...],
        validation: str,
        orig_bytes: int,
        resp_bytes: int,
        duration: float,
    ) -> None:
        uid = "C" + "".join(self.ids.choice(_UID_ALPHABET) for _ in range(17))
        micro = timedelta(microseconds=self.rng.randrange(1_000_000))
        self.out.append(
            Session(
                ts + micro,
                uid,
                self.ids.randrange(10**15, 10**16),
                client,
                self.rng.randrange(49152, 65535),
                server,
                port,
                sni,
                chain,
                validation,
                orig_bytes,
                resp_bytes,
                round(duration, 6),
            )
        )

    def ordinary(self, ts: datetime, client: str) -> None:
        servers = _BASELINE_SERVERS
        server, port, sni, _weight = self.rng.choices(servers, weights=[s[3] for s in servers])[0]
        rng = self.rng
        if sni in self.leaves:
            chain: tuple[x509.Certificate, ...] = (self.leaves[sni], self.ca)
            validation = _VALID
        else:
            chain, validation = (), _TLS13
        orig = int(rng.lognormvariate(math.log(1800), 0.8))
        if sni in ("wiki.corp.example", "files.example.com") and rng.random() < 0.04:
            orig = rng.randrange(200_000, _MAX_ORDINARY_UPLOAD)  # someone saves a page or shares a file
        resp = min(int(rng.lognormvariate(math.log(60_000), 1.4)), 25_000_000)
        self.add(
            ts,
            client,
            server,
            port,
            sni,
            chain,
            validation,
            min(orig, _MAX_ORDINARY_UPLOAD),
            resp,
            min(rng.lognormvariate(math.log(2.0), 1.0), 300.0),
        )


def generate_sessions(
    now: datetime, leaves: dict[str, x509.Certificate], ca: x509.Certificate, mimicry: x509.Certificate
) -> list[Session]:
    s = _Sessions(now, leaves, ca)
    rng = s.rng
    _baseline(s, now)

    # mimicry: ws-0137 beacons every ~10 minutes to the first server and, in the second hour, uploads through it
    start = now - MIMICRY_FIRST_SEEN
    for i in range(22):
        upload = 6 <= i <= 11
        s.add(
            start + timedelta(minutes=10 * i, seconds=rng.randrange(-40, 40) if i else 0),
            MIMICRY_CLIENT,
            MIMICRY_SERVERS[0],
            443,
            MIMICRY_HOST,
            (mimicry,),
            _UNTRUSTED,
            orig_bytes=rng.randrange(6_000_000, 11_000_000) if upload else rng.randrange(900, 2600),
            resp_bytes=rng.randrange(2_000, 6_000) if upload else rng.randrange(300, 1500),
            duration=rng.uniform(25.0, 80.0) if upload else rng.uniform(0.2, 1.2),
        )
    # a second workstation reaches the other server a few times: small, irregular
    for minutes in (0, 17, 41, 52, 83, 97):
        s.add(
            now - timedelta(hours=2) + timedelta(minutes=minutes, seconds=rng.randrange(60)),
            "10.20.0.52",
            MIMICRY_SERVERS[1],
            443,
            MIMICRY_HOST,
            (mimicry,),
            _UNTRUSTED,
            rng.randrange(700, 1800),
            rng.randrange(2_000, 9_000),
            rng.uniform(0.3, 2.0),
        )
    # internal: the internal CA's certificate for a Microsoft name, on an outside server; steady and small
    rogue_ip, rogue_port = ROGUE_SERVER
    rogue_chain = (leaves[ROGUE_HOST], ca)
    for i in range(5):
        s.add(
            now - ROGUE_FIRST_SEEN + timedelta(minutes=31 * i, seconds=rng.randrange(-90, 90) if i else 0),
            "10.20.0.61",
            rogue_ip,
            rogue_port,
            ROGUE_HOST,
            rogue_chain,
            _VALID,
            rng.randrange(900, 2400),
            rng.randrange(8_000, 40_000),
            rng.uniform(0.4, 3.0),
        )
    s.add(
        now - ROGUE_FIRST_SEEN + timedelta(hours=3, minutes=13),
        "10.20.0.88",
        rogue_ip,
        rogue_port,
        ROGUE_HOST,
        rogue_chain,
        _VALID,
        rng.randrange(900, 2400),
        rng.randrange(8_000, 40_000),
        rng.uniform(0.4, 3.0),
    )
    return sorted(s.out, key=lambda x: x.ts)


def _baseline(s: _Sessions, now: datetime) -> None:
    """Ordinary traffic hour by hour over LOG_SPAN: busier in office hours on weekdays, with noise."""
    rng = s.rng
    others = sorted({f"10.20.0.{n}" for n in rng.sample(range(10, 200), 30)} - set(_STORY_CLIENTS))
    clients = list(_STORY_CLIENTS) + others
    hour = (now - LOG_SPAN).replace(minute=0, second=0, microsecond=0)
    last = now - timedelta(minutes=2)
    while hour < last:
        busy = hour.weekday() < 5 and hour.hour in _OFFICE_HOURS
        mean = 12.0 if busy else 2.0
        for _ in range(max(0, round(rng.gauss(mean, math.sqrt(mean))))):
            when = hour + timedelta(seconds=rng.randrange(3600))
            if when < last:
                s.ordinary(when, rng.choice(clients))
        # the story workstations also check in with the update service every hour, so their own baseline is never empty
        for client in _STORY_CLIENTS:
            when = hour + timedelta(seconds=rng.randrange(3600))
            if when < last:
                s.add(
                    when,
                    client,
                    *_UPDATE_SERVICE,
                    (),
                    _TLS13,
                    rng.randrange(600, 1600),
                    rng.randrange(2_000, 9_000),
                    rng.uniform(0.1, 0.6),
                )
        hour += timedelta(hours=1)


def dns_lookups(sessions: list[Session]) -> list[Session]:
    """The sessions preceded by a DNS lookup in the logs: the first one to each name."""
    seen: set[str] = set()
    first: list[Session] = []
    for s in sessions:
        if s.sni not in seen:
            seen.add(s.sni)
            first.append(s)
    return first
