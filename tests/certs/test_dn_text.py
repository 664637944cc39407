"""One DN text conversion (certs/dn.py): what it writes is what cryptography writes for the same name,
whichever form the DN was read from (a parsed certificate, an RFC 4514 log, openssl's index.txt form)."""

from __future__ import annotations

import warnings

from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from certsoar.certs.dn import attributes_of, rfc4514, to_rfc4514

_OIDS = [
    NameOID.COUNTRY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.COMMON_NAME,
    NameOID.EMAIL_ADDRESS,
    NameOID.STREET_ADDRESS,
    NameOID.DOMAIN_COMPONENT,
    NameOID.USER_ID,
    NameOID.SERIAL_NUMBER,
    NameOID.TITLE,
    NameOID.POSTAL_CODE,
]
# every character RFC 4514 treats specially, plus NUL, spaces and non-ASCII
_VALUES = st.text(alphabet=st.sampled_from(list('ab Z9\\"+,;<>#=\0/é猫\u200b')), min_size=1, max_size=12)


def _name(pairs: list[tuple[x509.ObjectIdentifier, str]]) -> x509.Name:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return x509.Name([x509.NameAttribute(oid, value, _validate=False) for oid, value in pairs])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_OIDS), _VALUES), min_size=1, max_size=6))
def test_rfc4514_writes_what_cryptography_writes(pairs: list[tuple[x509.ObjectIdentifier, str]]) -> None:
    name = _name(pairs)
    assert rfc4514(attributes_of(name)) == name.rfc4514_string()


_MIDDLE = [oid for oid in _OIDS if oid not in (NameOID.COUNTRY_NAME, NameOID.DOMAIN_COMPONENT, NameOID.COMMON_NAME)]


@settings(max_examples=200, deadline=None)
@given(_VALUES, st.lists(st.tuples(st.sampled_from(_MIDDLE), _VALUES), max_size=4), _VALUES)
def test_an_rfc4514_log_string_converts_back_to_itself(
    country: str, middle: list[tuple[x509.ObjectIdentifier, str]], common_name: str
) -> None:
    """Names in the usual order (C first, CN last): a comma-separated string's order is otherwise a guess."""
    written = _name([(NameOID.COUNTRY_NAME, country), *middle, (NameOID.COMMON_NAME, common_name)]).rfc4514_string()
    assert to_rfc4514(written) == written


_ONELINE_VALUES = st.text(alphabet=st.sampled_from(list('ab Z9"+,;<>é')), min_size=1, max_size=12).filter(
    lambda v: v == v.strip()
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_OIDS), _ONELINE_VALUES), min_size=1, max_size=6))
def test_openssl_index_form_converts_to_what_cryptography_writes(
    pairs: list[tuple[x509.ObjectIdentifier, str]],
) -> None:
    """index.txt writes ``/C=US/O=Example/CN=host`` (X.500 order, short names, values raw)."""
    name = _name(pairs)
    oneline = "".join(
        f"/{attr.rfc4514_attribute_name if attr.oid in _SHORT else _OPENSSL[attr.oid]}={attr.value}" for attr in name
    )
    assert to_rfc4514(oneline) == name.rfc4514_string()


_SHORT = {
    NameOID.COUNTRY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.COMMON_NAME,
    NameOID.DOMAIN_COMPONENT,
}
_OPENSSL = {
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.STREET_ADDRESS: "street",
    NameOID.USER_ID: "UID",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.TITLE: "title",
    NameOID.POSTAL_CODE: "postalCode",
}


def test_known_examples() -> None:
    assert to_rfc4514("/C=US/O=Example, Inc./CN=host") == "CN=host,O=Example\\, Inc.,C=US"
    assert to_rfc4514("/emailAddress=a@b.example/CN=x") == "CN=x,1.2.840.113549.1.9.1=a@b.example"
    assert rfc4514([("CN", " a=b ")]) == "CN=\\ a=b\\ "
