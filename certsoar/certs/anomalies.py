"""Short anomaly codes for a parsed certificate (cert-domain §1.2-§1.4)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CLOCK_SKEW = timedelta(minutes=5)
MAX_PRIVATE_LEAF_DAYS = 825
MAX_ANY_DAYS = 30 * 365
MIN_VALIDITY = timedelta(days=2)
MIN_RSA_DSA_BITS = 2048
MIN_EC_BITS = 256

# CA/B Forum maximum TLS leaf validity by issuance (notBefore) date: SC-081 schedule from 2026, 398 days
# since 2020-09-01, and the earlier Baseline Requirements limits (825 days, 39 months, 60 months) so a
# genuine older leaf is not judged by today's rule. Before 2012-07-01 there was no limit.
PUBLIC_LEAF_LIMITS: tuple[tuple[datetime, int], ...] = (
    (datetime(2029, 3, 15, tzinfo=timezone.utc), 47),
    (datetime(2027, 3, 15, tzinfo=timezone.utc), 100),
    (datetime(2026, 3, 15, tzinfo=timezone.utc), 200),
    (datetime(2020, 9, 1, tzinfo=timezone.utc), 398),
    (datetime(2018, 3, 1, tzinfo=timezone.utc), 825),
    (datetime(2015, 4, 1, tzinfo=timezone.utc), 1186),
    (datetime(2012, 7, 1, tzinfo=timezone.utc), 1827),
)

SIGNATURE_NAMES: dict[str, str] = {
    "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.10": "rsassaPss",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
    "1.2.840.113549.2.5": "md5",
    "1.2.840.113549.2.2": "md2",
    "1.3.14.3.2.29": "sha1WithRSASignature",
    "1.2.840.10040.4.3": "dsa-with-sha1",
    "2.16.840.1.101.3.4.3.2": "dsa-with-sha256",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.3.101.112": "ed25519",
    "1.3.101.113": "ed448",
    "1.2.643.2.2.3": "gostR3411-94-with-gostR3410-2001",
}
WEAK_SIGNATURE_OIDS = frozenset(
    {
        "1.2.840.113549.1.1.2",
        "1.2.840.113549.1.1.4",
        "1.2.840.113549.1.1.5",
        "1.2.840.113549.2.5",
        "1.2.840.113549.2.2",
        "1.3.14.3.2.29",
        "1.2.840.10040.4.3",
        "1.2.840.10045.4.1",
    }
)
WEAK_HASHES = frozenset({"md2", "md4", "md5", "sha1"})


def public_leaf_limit(not_before: datetime) -> int | None:
    for start, days in PUBLIC_LEAF_LIMITS:
        if not_before >= start:
            return days
    return None


def lifetime_exceeded(not_before: datetime, not_after: datetime) -> bool:
    """Validity above the public-CA leaf limit in force at ``not_before`` (callers apply it to leaves)."""
    limit = public_leaf_limit(not_before)
    return limit is not None and not_after - not_before > timedelta(days=limit)


def validity_anomalies(not_before: datetime, not_after: datetime, at: datetime, *, is_ca: bool) -> list[str]:
    found: list[str] = []
    span = not_after - not_before
    if not_before > at + CLOCK_SKEW:
        found.append("not_yet_valid")
    if not_after < at:
        found.append("expired")
    if span.days > MAX_ANY_DAYS or (not is_ca and span.days > MAX_PRIVATE_LEAF_DAYS):
        found.append("long_validity")
    if span < MIN_VALIDITY:
        found.append("short_validity")
    return found


def key_anomalies(key_type: str | None, key_size: int | None) -> list[str]:
    if key_type is None or key_type.startswith("unsupported"):
        return ["unsupported_key"]
    if key_size is None:
        return []
    if key_type in ("RSA", "DSA") and key_size < MIN_RSA_DSA_BITS:
        return ["weak_key"]
    if key_type == "EC" and key_size < MIN_EC_BITS:
        return ["weak_key"]
    return []


def signature_anomalies(oid: str, hash_name: str | None) -> list[str]:
    if oid in WEAK_SIGNATURE_OIDS or (hash_name or "").lower() in WEAK_HASHES:
        return ["weak_signature_hash"]
    return []


_WEAK_SIGNATURE_NAMES = frozenset(SIGNATURE_NAMES[oid].casefold() for oid in WEAK_SIGNATURE_OIDS) | frozenset(
    {
        "sha1withrsa",
        "md5withrsa",
        "md2withrsa",
        "shawithrsaencryption",
        "sha1withdsa",
        "dsawithsha1",
        "ecdsawithsha1",
        "sha1withecdsa",
    }
)


def signature_name_anomalies(name: str | None) -> list[str]:
    """A signature algorithm as a log names it (Zeek sig_alg: 'sha1WithRSAEncryption', or the dotted OID
    when the algorithm has no name), judged as signature_anomalies judges the parsed certificate's."""
    if not name:
        return []
    text = name.strip()
    return ["weak_signature_hash"] if text in WEAK_SIGNATURE_OIDS or text.casefold() in _WEAK_SIGNATURE_NAMES else []


def attribute_anomalies(subject: list[tuple[str, str]]) -> list[str]:
    found: list[str] = []
    if len(subject) == 0:
        found.append("empty_subject")
    for label, value in subject:
        if label != "C":
            continue
        if len(value) != 2:
            found.append("country_len_ne_2")
            if "/CN=" in value or "/ST=" in value or "/O=" in value:
                found.append("packed_country_dn")  # old Metasploit packs the whole DN into C=
            break
    return found
