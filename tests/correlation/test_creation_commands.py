from __future__ import annotations

import base64

import pytest

from certsoar.correlation.commands import command_subject, creation_command, program_name, tokenize


def encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("openssl req -x509 -newkey rsa:2048 -keyout k.pem -out c.pem -days 365 -nodes", "openssl req -x509"),
        ("openssl req -new -newkey rsa:4096 -nodes -x509 -subj /CN=a -out a.crt", "openssl req -x509"),
        ('"C:\\Program Files\\OpenSSL-Win64\\bin\\openssl.exe" req -x509 -key k.pem -out c.pem', "openssl req -x509"),
        ("/usr/bin/openssl x509 -req -in r.csr -signkey k.pem -out c.pem", "openssl x509 -req"),
        ("openssl ca -config ca.cnf -in r.csr -out c.pem -batch", "openssl ca"),
        ("sudo -u root openssl req -x509 -new -key k", "openssl req -x509"),
        ("env OPENSSL_CONF=/tmp/x.cnf openssl req -x509 -key k", "openssl req -x509"),
        ('sh -c "cd /tmp && openssl req -new -x509 -key k -out c"', "openssl req -x509"),
        ('cmd.exe /c "makecert -r -pe -n CN=x -ss my"', "makecert -r"),
        ("makecert.exe -sk k -n CN=y out.cer", "makecert"),
        ("keytool -genkeypair -alias x -keystore k.jks", "keytool -genkeypair"),
        ("keytool.exe -genkey -alias cobaltstrike -keystore cobaltstrike.store", "keytool -genkey"),
        ("certreq.exe -new req.inf req.req", "certreq -new"),
        ("certreq /submit -config CA01\\corp-CA req.req", "certreq -submit"),
        ("certutil -sign old.cer new.cer", "certutil -sign"),
        (
            'powershell.exe -NoProfile -Command "$c = New-SelfSignedCertificate -DnsName www.example.com"',
            "New-SelfSignedCertificate",
        ),
        ("pwsh -c (New-SelfSignedCertificate -Subject CN=a)", "New-SelfSignedCertificate"),
        (f"powershell -enc {encoded('New-SelfSignedCertificate -DnsName a.example')}", "New-SelfSignedCertificate"),
        (
            f"powershell.exe -NoP -EncodedCommand {encoded('Get-Certificate -Template WebServer -DnsName b.example')}",
            "Get-Certificate -Template",
        ),
        (
            "step certificate create leaf.example leaf.crt leaf.key --profile self-signed --subtle",
            "step certificate create",
        ),
        ("cfssl gencert -initca ca-csr.json", "cfssl gencert"),
        ("mkcert example.test localhost 127.0.0.1", "mkcert"),
        ("Certify.exe request /ca:CA01\\corp-CA /template:User /altname:administrator", "Certify request"),
        ("certipy req -u user@corp.example -ca corp-CA -template ESC1 -upn administrator", "certipy req"),
        # not creation
        ("openssl req -new -key k.pem -out r.csr", None),
        ("openssl x509 -in c.pem -noout -text", None),
        ("openssl ca -revoke c.pem", None),
        ("echo openssl req -x509", None),
        ("grep -r makecert C:\\logs", None),
        ("notepad.exe C:\\makecert\\readme.txt", None),
        ("certutil -addstore root evil.cer", None),
        ("certreq -retrieve 42 out.cer", None),
        ("keytool -list -keystore k.jks", None),
        ("mkcert -install", None),
        ("Get-ChildItem New-SelfSignedCertificate.txt", None),
        ("powershell -enc !!!not-base64!!!", None),
        ("", None),
        (None, None),
    ],
)
def test_creation_command_table(line, expected):
    assert creation_command(line) == expected


def test_script_blocks_count_cmdlets_anywhere():
    script = "$p = @{ Subject = 'CN=a' }\n$cert = New-SelfSignedCertificate @p -KeyExportPolicy Exportable"
    assert creation_command(script) is None  # not a command line: the first word is no program
    assert creation_command(script, script=True) == "New-SelfSignedCertificate"


@pytest.mark.parametrize(
    ("line", "subject"),
    [
        ('openssl req -x509 -subj "/C=US/CN=update.example" -key k', "/C=US/CN=update.example"),
        ('makecert -r -n "CN=Test Root" root.cer', "CN=Test Root"),
        (
            'keytool -genkeypair -dname "CN=Major Cobalt Strike, O=cobaltstrike" -keystore s',
            "CN=Major Cobalt Strike, O=cobaltstrike",
        ),
        ("powershell -c New-SelfSignedCertificate -DnsName a.example,b.example", "CN=a.example"),
        ("openssl req -x509 -key k", None),
    ],
)
def test_command_subject(line, subject):
    assert command_subject(line) == subject


def test_tokenizer_and_program_names():
    assert tokenize("a \"b c\" 'd e' f;g&&h") == ["a", "b c", "d e", "f", ";", "g", "&&", "h"]
    assert tokenize('x ""') == ["x", ""]
    assert program_name("C:\\Windows\\System32\\CertReq.EXE") == "certreq"
    assert program_name("/usr/local/bin/openssl") == "openssl"


def test_huge_command_lines_are_cut_not_fatal():
    assert creation_command("openssl req -x509 " + "-a " * 100_000) == "openssl req -x509"
    assert creation_command("x " * 100_000 + "openssl req -x509") is None
