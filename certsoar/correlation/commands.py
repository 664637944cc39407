"""Recognize certificate-creation commands in process command lines (cert-domain §1.10).

Matching works on parsed tokens: the command line is split like a shell would (quotes group, ``;``, ``|`` and
``&`` separate commands), quoted sub-commands (``cmd /c "..."``, ``powershell -Command "..."``, ``sh -c '...'``)
and PowerShell ``-EncodedCommand`` payloads are parsed in turn, and a tool counts only where a command starts
(after wrappers such as sudo or env). ``echo openssl req -x509`` or a path containing "makecert" do not match.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

MAX_COMMAND_CHARS = 32 * 1024
MAX_DEPTH = 3
_SEPARATORS = {";", "|", "||", "&", "&&", "\n"}
_WRAPPERS = {"sudo", "doas", "env", "nohup", "time", "exec", "call", "start", "nice", "command", "&", "."}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_ENCODED_FLAGS = {"-encodedcommand", "-enc", "-ec", "-e", "-en", "-enco", "-encod", "-encode", "-encoded"}
_SHELLS = {"powershell", "pwsh", "cmd", "sh", "bash", "zsh", "dash", "ksh"}
_CMDLET_EDGES = "()${}[]\"'`"


def tokenize(line: str) -> list[str]:
    """Whitespace-separated words; double or single quotes group (and are removed); separators are own tokens.

    Backslashes are literal, as in Windows paths.
    """
    tokens: list[str] = []
    current: list[str] = []
    quote: str | None = None
    started = False
    i = 0
    while i < len(line):
        char = line[i]
        if quote:
            if char == quote:
                quote = None
            else:
                current.append(char)
        elif char in "\"'":
            quote = char
            started = True
        elif char.isspace() and char != "\n":
            if started or current:
                tokens.append("".join(current))
            current, started = [], False
        elif char in ";|&\n":
            if started or current:
                tokens.append("".join(current))
            current, started = [], False
            pair = line[i : i + 2]
            if pair in ("&&", "||"):
                tokens.append(pair)
                i += 1
            else:
                tokens.append(char)
        else:
            current.append(char)
        i += 1
    if started or current:
        tokens.append("".join(current))
    return tokens


def program_name(token: str) -> str:
    """``C:\\Tools\\OpenSSL.EXE`` → ``openssl``; ``/usr/bin/keytool`` → ``keytool``."""
    base = re.split(r"[\\/]", token)[-1].casefold()
    for suffix in (".exe", ".com", ".bat", ".cmd", ".ps1", ".py"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _segments(tokens: list[str]) -> Iterator[list[str]]:
    current: list[str] = []
    for token in tokens:
        if token in _SEPARATORS:
            if current:
                yield current
            current = []
        else:
            current.append(token)
    if current:
        yield current


def _decode_powershell(payload: str) -> str | None:
    try:
        raw = base64.b64decode(payload, validate=True)
        return raw.decode("utf-16-le")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


_WRAPPER_OPTIONS_WITH_VALUE = {"-u", "-g", "-U", "-C", "-h", "-p", "-r", "-t", "-n"}


def _command_start(segment: list[str]) -> int:
    """Index of the actual program after wrappers (sudo -u x, env A=1, PowerShell's call operator &)."""
    i = 0
    in_wrapper = False
    while i < len(segment):
        token = segment[i]
        if program_name(token) in _WRAPPERS or _ASSIGNMENT.match(token):
            in_wrapper = True
            i += 1
        elif in_wrapper and token.startswith("-"):
            i += 2 if token in _WRAPPER_OPTIONS_WITH_VALUE else 1
        else:
            return i
    return len(segment)


def _flags(args: list[str], windows: bool = False) -> set[str]:
    """Options of a command, lower-case, '/' spelled as '-' for Windows tools."""
    found: set[str] = set()
    for arg in args:
        if arg.startswith("-") or (
            windows and arg.startswith("/") and len(arg) > 1 and "/" not in arg[1:] and "\\" not in arg
        ):
            found.add("-" + arg.lstrip("-/").casefold())
    return found


def _words(args: list[str]) -> list[str]:
    return [a.casefold() for a in args if not a.startswith("-")]


def _classify_program(name: str, args: list[str]) -> str | None:
    if name == "openssl":
        words = _words(args)
        flags = _flags(args)
        sub = words[0] if words else ""
        if sub == "req" and "-x509" in flags:
            return "openssl req -x509"
        if sub == "x509" and "-req" in flags:
            return "openssl x509 -req"
        if sub == "ca" and not flags & {"-revoke", "-gencrl", "-updatedb", "-status"}:
            return "openssl ca"
        return None
    if name == "makecert":
        return "makecert -r" if "-r" in _flags(args, windows=True) else "makecert"
    if name == "keytool":
        hit = _flags(args) & {"-genkeypair", "-genkey", "-gencert", "-selfcert"}
        return f"keytool {sorted(hit)[0]}" if hit else None
    if name == "certreq":
        hit = _flags(args, windows=True) & {"-new", "-submit", "-enroll"}
        return f"certreq {sorted(hit)[0]}" if hit else None
    if name == "certutil":
        # certutil installs and exports certificates; of its verbs only -sign creates one (re-signs with a given key).
        return "certutil -sign" if "-sign" in _flags(args, windows=True) else None
    if name == "certify":
        return "Certify request" if "request" in _words(args) else None
    if name in ("certipy", "certipy-ad"):
        return "certipy req" if "req" in _words(args) else None
    if name == "step":
        words = _words(args)
        if words[:2] in (["certificate", "create"], ["certificate", "sign"], ["ca", "certificate"]):
            return f"step {' '.join(words[:2])}"
        return None
    if name == "cfssl":
        words = _words(args)
        return f"cfssl {words[0]}" if words and words[0] in ("gencert", "selfsign", "sign") else None
    if name == "mkcert":
        flags = _flags(args)
        if flags & {"-install", "-uninstall", "-caroot", "-help", "-version"}:
            return None
        return "mkcert" if _words(args) or "-csr" in flags else None
    return None


def _classify_cmdlets(tokens: list[str]) -> str | None:
    for i, token in enumerate(tokens):
        word = token.strip(_CMDLET_EDGES).casefold()
        if word == "new-selfsignedcertificate":
            return "New-SelfSignedCertificate"
        if word == "get-certificate" and "-template" in _flags(tokens[i + 1 :]):
            return "Get-Certificate -Template"
        if word in ("x509enrollment.cx509enrollment", "x509enrollment.cx509certificaterequestcertificate"):
            return "X509Enrollment COM"
    return None


def _nested(segment: list[str], start: int) -> Iterator[str]:
    """Command lines embedded in a shell invocation: quoted -Command/-c/`cmd /c` arguments, -EncodedCommand payloads."""
    name = program_name(segment[start]) if start < len(segment) else ""
    args = segment[start + 1 :]
    if name not in _SHELLS:
        return
    for i, arg in enumerate(args):
        flag = arg.casefold()
        if name in ("powershell", "pwsh") and flag in _ENCODED_FLAGS and i + 1 < len(args):
            decoded = _decode_powershell(args[i + 1])
            if decoded:
                yield decoded
        elif flag in ("-command", "-c", "/c", "/k", "-commandwithargs") and i + 1 < len(args):
            yield " ".join(args[i + 1 :])
            return
    if name in ("powershell", "pwsh") and args and not args[0].startswith(("-", "/")):
        yield " ".join(args)  # powershell New-SelfSignedCertificate ... (implicit -Command)


def creation_command(line: str | None, *, script: bool = False, _depth: int = 0) -> str | None:
    """The kind of certificate creation a command line performs (``openssl req -x509``, ...), or None.

    ``script=True`` reads the text as PowerShell (4104 ScriptBlockText), where cmdlets count anywhere.
    """
    if not line or _depth > MAX_DEPTH:
        return None
    tokens = tokenize(line[:MAX_COMMAND_CHARS])
    for segment in _segments(tokens):
        start = _command_start(segment)
        if start >= len(segment):
            continue
        label = _classify_program(program_name(segment[start]), segment[start + 1 :])
        if label:
            return label
        for inner in _nested(segment, start):
            label = creation_command(inner, _depth=_depth + 1)
            if label:
                return label
    if script or _depth > 0 or any(program_name(t) in ("powershell", "pwsh") for t in tokens[:3]):
        return _classify_cmdlets(tokens)
    return None


_SUBJECT_OPTIONS = {
    "openssl": ("-subj",),
    "makecert": ("-n", "/n"),
    "keytool": ("-dname",),
    "new-selfsignedcertificate": ("-subject", "-dnsname"),
}


def command_subject(line: str | None) -> str | None:
    """The subject a creation command names (``-subj``, ``-n``, ``-dname``, ``-Subject``/``-DnsName``), if any."""
    if not line:
        return None
    tokens = tokenize(line[:MAX_COMMAND_CHARS])
    tool: str | None = None
    for i, token in enumerate(tokens):
        name = program_name(token.strip(_CMDLET_EDGES))
        if name in _SUBJECT_OPTIONS:
            tool = name
            continue
        if tool and token.casefold() in _SUBJECT_OPTIONS[tool] and i + 1 < len(tokens):
            value = tokens[i + 1].strip()
            if token.casefold() == "-dnsname":
                return f"CN={value.split(',')[0]}"
            return value or None
    return None
