"""Distinguished names as (label, value) attributes, from parsed certificates and from log strings.

Log sources write DNs three ways: RFC 4514 (Zeek: ``CN=a,O=b``), OpenSSL one-line (``/C=US/O=b``, values raw)
and OpenSSL/Windows print form (Suricata, AD CS: ``C=US, O=b`` or ``CN=a, O=b``). All become the
same attribute list in X.500 order (most general first), so tool defaults and brand names are
matched on attributes, never on the raw string.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

Attribute = tuple[str, str]

_OID_LABELS: dict[str, str] = {
    NameOID.COUNTRY_NAME.dotted_string: "C",
    NameOID.STATE_OR_PROVINCE_NAME.dotted_string: "ST",
    NameOID.LOCALITY_NAME.dotted_string: "L",
    NameOID.ORGANIZATION_NAME.dotted_string: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME.dotted_string: "OU",
    NameOID.COMMON_NAME.dotted_string: "CN",
    NameOID.EMAIL_ADDRESS.dotted_string: "emailAddress",
    NameOID.POSTAL_CODE.dotted_string: "postalCode",
    NameOID.STREET_ADDRESS.dotted_string: "street",
    NameOID.DOMAIN_COMPONENT.dotted_string: "DC",
    NameOID.SERIAL_NUMBER.dotted_string: "serialNumber",
    NameOID.USER_ID.dotted_string: "UID",
    NameOID.TITLE.dotted_string: "title",
    NameOID.GIVEN_NAME.dotted_string: "GN",
    NameOID.SURNAME.dotted_string: "SN",
}
_ALIASES: dict[str, str] = {
    "c": "C",
    "countryname": "C",
    "st": "ST",
    "s": "ST",
    "sp": "ST",
    "stateorprovincename": "ST",
    "l": "L",
    "localityname": "L",
    "o": "O",
    "organizationname": "O",
    "ou": "OU",
    "organizationalunitname": "OU",
    "cn": "CN",
    "commonname": "CN",
    "e": "emailAddress",
    "email": "emailAddress",
    "emailaddress": "emailAddress",
    "postalcode": "postalCode",
    "street": "street",
    "streetaddress": "street",
    "dc": "DC",
    "domaincomponent": "DC",
    "serialnumber": "serialNumber",
    "uid": "UID",
    "title": "title",
    "gn": "GN",
    "givenname": "GN",
    "sn": "SN",
    "surname": "SN",
}
_LABEL = r"(?:[A-Za-z][A-Za-z0-9-]{0,40}|\d+(?:\.\d+)+)"
_LABEL_AT_START = re.compile(rf"^\s*({_LABEL})\s*=")
# a separator only counts when another attribute follows it: "O=Foo, Inc." stays one value
_SLASH_SPLIT = re.compile(rf"/(?={_LABEL}=)")
_ZEEK_HEX = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
# a run of hex escapes (UTF-8 bytes, decoded together) or one escaped character
_RFC4514_ESCAPE = re.compile(r"((?:\\[0-9a-fA-F]{2})+)|\\(.)")
MAX_DN_CHARS = 8192


def canonical_label(label: str) -> str:
    text = label.strip()
    if text in _OID_LABELS:
        return _OID_LABELS[text]
    return _ALIASES.get(text.lower(), text)


def attributes_of(name: x509.Name) -> list[Attribute]:
    """A parsed certificate name → attributes in X.500 order (bytes values are shown as hex)."""
    found: list[Attribute] = []
    for attr in name:
        label = _OID_LABELS.get(attr.oid.dotted_string, attr.oid.dotted_string)
        value = attr.value if isinstance(attr.value, str) else attr.value.hex()
        found.append((label, value))
    return found


def _decode_zeek_hex(text: str) -> str:
    """Zeek escapes non-printable bytes as ``\\xNN``: turn runs of them back into UTF-8 text."""

    def bytes_back(match: re.Match[str]) -> str:
        raw = bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-fA-F]{2})", match.group(0)))
        return raw.decode("utf-8", errors="replace")

    return _ZEEK_HEX.sub(bytes_back, text)


def _split_unescaped(text: str, separators: str) -> list[str]:
    """Split on separator characters outside quotes and not backslash-escaped, when a LABEL= follows."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch in separators and not quoted and _LABEL_AT_START.match(text[i + 1 :]):
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _strip_unescaped(value: str) -> str:
    """Surrounding white space goes, but not a trailing space escaped as ``\\ ``."""
    text = value.strip()
    trailing_backslashes = len(text) - len(text.rstrip("\\"))
    if trailing_backslashes % 2 == 1 and len(text) < len(value.lstrip()):
        text += " "
    return text


def _unescape(value: str) -> str:
    text = _strip_unescaped(value)
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1].replace('""', '"')
    if "\\" not in text:
        return text

    def unescaped(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return match.group(2)
        raw = bytes.fromhex(match.group(1).replace("\\", ""))
        try:  # RFC 4514 hex escapes are UTF-8 bytes; only they are decoded, literal characters stay
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")

    # one pass, so an escaped backslash before hex digits (``\\0D``) stays a backslash
    return _RFC4514_ESCAPE.sub(unescaped, text)


def _looks_rfc4514_order(attrs: list[Attribute]) -> bool:
    """RFC 4514 writes the most specific attribute first (CN ... C/DC); X.500 order the reverse."""
    if len(attrs) < 2:
        return False
    first, last = attrs[0][0], attrs[-1][0]
    general = {"C", "DC"}
    return (first not in general and last in general) or (first == "CN" and last != "CN")


def starts_with_attribute(text: str) -> bool:
    """Whether the string opens with ``LABEL=`` (``/LABEL=`` in the OpenSSL one-line form): text that
    does not is not a DN, though parse_dn would still pick attributes out of its tail."""
    source = _decode_zeek_hex(text[:MAX_DN_CHARS]).strip()
    return bool(_LABEL_AT_START.match(source[1:] if source.startswith("/") else source))


def parse_dn(text: str | None) -> list[Attribute]:
    """A DN string as a log wrote it → attributes in X.500 order; [] for an empty or label-less string."""
    if not text:
        return []
    source = _strip_unescaped(_decode_zeek_hex(text[:MAX_DN_CHARS]))
    if not source:
        return []
    if source.startswith("/") and _LABEL_AT_START.match(source[1:]):
        pieces = _SLASH_SPLIT.split(source[1:])
        in_x500_order = True
    else:
        pieces = [p for chunk in _split_unescaped(source, ",;") for p in _split_unescaped(chunk, "+")]
        in_x500_order = False
    attrs: list[Attribute] = []
    for piece in pieces:
        label, sep, value = piece.partition("=")
        if not sep or not re.fullmatch(_LABEL, label.strip()):
            if attrs:  # a stray separator inside the previous value
                prev_label, prev_value = attrs[-1]
                attrs[-1] = (prev_label, f"{prev_value},{piece}")
            continue
        # openssl's one-line form writes values raw: no RFC 4514 quoting or escapes to undo
        attrs.append((canonical_label(label), value.strip() if in_x500_order else _unescape(value)))
    if not in_x500_order and _looks_rfc4514_order(attrs):
        attrs.reverse()
    return attrs


# the labels cryptography's Name.rfc4514_string() writes by name; every other attribute by its dotted OID
_RFC4514_NAMES = {
    "CN": "CN",
    "L": "L",
    "ST": "ST",
    "O": "O",
    "OU": "OU",
    "C": "C",
    "street": "STREET",
    "DC": "DC",
    "UID": "UID",
}
_OIDS_BY_LABEL = {label: oid for oid, label in _OID_LABELS.items()}
_ESCAPE_ANY = re.compile(r'([\\"+,;<>])')


def _rfc4514_value(value: str) -> str:
    """RFC 4514 §2.4 escaping, character for character as cryptography writes it."""
    if not value:
        return ""
    escaped = _ESCAPE_ANY.sub(r"\\\1", value).replace("\0", "\\00")
    if escaped[0] == "#" or (escaped[0] == " " and len(escaped) > 1):
        escaped = "\\" + escaped
    if escaped[-1] == " ":
        escaped = escaped[:-1] + "\\ "
    return escaped


def rfc4514(attrs: list[Attribute]) -> str:
    """Attributes in X.500 order → an RFC 4514 string (most specific first), exactly as cryptography's
    ``Name.rfc4514_string()`` prints the same name, so a DN read from a log and the one parsed from the
    certificate compare as text."""
    rendered = []
    for label, value in reversed(attrs):
        name = _RFC4514_NAMES.get(label) or _OIDS_BY_LABEL.get(label, label)
        rendered.append(f"{name}={_rfc4514_value(value)}")
    return ",".join(rendered)


def to_rfc4514(text: str) -> str:
    """A DN as a log or a tool wrote it (RFC 4514, OpenSSL ``/C=US/O=x/CN=y``, or ``C=US, O=x``) → RFC 4514."""
    return rfc4514(parse_dn(text))


def comparison_key(attrs: list[Attribute]) -> list[Attribute]:
    """What DN equality compares: the attributes in sorted order, values casefolded and space-collapsed."""
    return sorted((label, " ".join(value.casefold().split())) for label, value in attrs)


def same_name(a: list[Attribute], b: list[Attribute]) -> bool:
    """DN equality on attributes (order-insensitive, values compared casefolded and space-collapsed)."""
    return bool(a) and bool(b) and comparison_key(a) == comparison_key(b)


def first(attrs: list[Attribute], label: str) -> str | None:
    return next((value for lab, value in attrs if lab == label), None)


def values(attrs: list[Attribute], label: str) -> list[str]:
    return [value for lab, value in attrs if lab == label]
