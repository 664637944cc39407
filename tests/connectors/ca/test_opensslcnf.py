"""The openssl.cnf reader used by the openssl-ca connector."""

from __future__ import annotations

from pathlib import Path

import pytest

from certsoar.errors import ConfigError
from certsoar.opensslcnf import parse_openssl_config


def _parse(tmp_path: Path, text: str) -> object:
    path = tmp_path / "openssl.cnf"
    path.write_text(text)
    return parse_openssl_config(path)


def test_sections_variables_and_comments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CA_HOME_FOR_TEST", "/srv/ca")
    cnf = parse_openssl_config(
        _write(
            tmp_path,
            """
# a comment
HOME = /home/ca            # default section
top  = "quoted # not a comment"

[ ca ]
default_ca = CA_one   # trailing comment

[CA_one]
dir        = $HOME/pki
database   = $dir/index.txt
certificate = ${dir}/ca.pem
serial     = $ca::default_ca.serial
crl        = $ENV::CA_HOME_FOR_TEST/crl.pem
private_key = '$dir/literal'
escaped    = \\$dir/x
joined     = first\\
second
tab        = a\\tb
""",
        )
    )
    assert cnf.get("ca", "default_ca") == "CA_one"
    assert cnf.get("CA_one", "dir") == "/home/ca/pki"
    assert cnf.get("CA_one", "database") == "/home/ca/pki/index.txt"
    assert cnf.get("CA_one", "certificate") == "/home/ca/pki/ca.pem"
    assert cnf.get("CA_one", "serial") == "CA_one.serial"
    assert cnf.get("CA_one", "crl") == "/srv/ca/crl.pem"
    assert cnf.get("CA_one", "private_key") == "$dir/literal"
    assert cnf.get("CA_one", "escaped") == "$dir/x"
    assert cnf.get("CA_one", "joined") == "firstsecond"
    assert cnf.get("CA_one", "tab") == "a\tb"
    assert cnf.get("default", "top") == "quoted # not a comment"
    assert cnf.get("CA_one", "HOME") == "/home/ca"  # falls back to the default section
    assert cnf.get("CA_one", "missing") is None


def test_later_values_win_and_include(tmp_path: Path) -> None:
    (tmp_path / "more.cnf").write_text("[ CA_x ]\nserial = $dir/serial.inc\n")
    cnf = parse_openssl_config(_write(tmp_path, "[ CA_x ]\ndir = /a\ndir = /b\n.include more.cnf\n"))
    assert cnf.get("CA_x", "dir") == "/b"
    assert cnf.get("CA_x", "serial") == "/b/serial.inc"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[ s ]\nx = $nope/y\n", r"openssl.cnf:2: variable \$nope has no value"),
        ("[ s ]\njust words\n", "openssl.cnf:2: expected 'name = value'"),
        ('[ s ]\nx = "open\n', "openssl.cnf:2: unterminated quote"),
        ("[ s ]\nx = ${dir\n", "openssl.cnf:2: missing"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_openssl_config(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the OpenSSL config"):
        parse_openssl_config(tmp_path / "absent.cnf")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "openssl.cnf"
    path.write_text(text)
    return path
