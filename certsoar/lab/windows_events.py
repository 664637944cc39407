"""The Windows events: Sysmon 1 and Security 4688 process creations, AD CS 4886/4887 on the CA.

Background (machine autoenrollment, a user certificate, certificate tools that create nothing) and both
stories' creation evidence; record ids are unique per build.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from certsoar.lab.certificate_encodings import adcs_serial
from certsoar.lab.story import (
    AUTOMATION_TEMPLATE,
    CA_HOST,
    CA_NAME,
    MIMICRY_CREATED,
    MIMICRY_HOST,
    MIMICRY_SUBJECT,
    ROGUE_HOST,
    ROGUE_ISSUED,
    ROGUE_REQUESTER,
)


@dataclass(frozen=True)
class WinEvent:
    """One Windows event: Sysmon 1, Security 4688, or AD CS 4886/4887 on the CA."""

    ts: datetime
    computer: str
    event_id: int
    data: dict[str, str]
    record_id: int = 0

    @property
    def sysmon(self) -> bool:
        return self.event_id == 1


_GIT_OPENSSL = "C:\\Program Files\\Git\\usr\\bin\\openssl.exe"
_POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
_CERTREQ = "C:\\Windows\\System32\\certreq.exe"
_CERTUTIL = "C:\\Windows\\System32\\certutil.exe"
_CMD = "C:\\Windows\\System32\\cmd.exe"
_EXPLORER = "C:\\Windows\\explorer.exe"
_KEYTOOL = "C:\\Program Files\\Java\\jdk-21\\bin\\keytool.exe"
_MACHINE_ENROLLMENTS = (
    # (before the build, workstation): autoenrollment renews machine certificates now and then
    (timedelta(hours=200), "WS-0105"),
    (timedelta(hours=170), "WS-0118"),
    (timedelta(hours=126), "WS-0152"),
    (timedelta(hours=75), "WS-0177"),
    (ROGUE_ISSUED - timedelta(minutes=40), "WS-0163"),
    (timedelta(hours=22), "WS-0129"),
    (MIMICRY_CREATED - timedelta(minutes=8), "WS-0144"),
)
_RECORD_STRIDE = 100_000
_MAX_RECORD_STEP = 40


class _WindowsLog:
    def __init__(self, now: datetime) -> None:
        self.ids = random.Random(f"certsoar-lab-windows-{now.isoformat()}")
        self.events: list[WinEvent] = []
        self.request_id = 2200

    def _guid(self) -> str:
        h = f"{self.ids.getrandbits(128):032x}"
        return f"{{{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}}}"

    def sysmon(
        self,
        ts: datetime,
        computer: str,
        user: str,
        image: str,
        command: str,
        parent: str,
        parent_command: str,
        cwd: str,
    ) -> None:
        self.events.append(
            WinEvent(
                ts,
                computer,
                1,
                {
                    "RuleName": "-",
                    "UtcTime": ts.strftime("%Y-%m-%d %H:%M:%S.") + f"{ts.microsecond // 1000:03d}",
                    "ProcessGuid": self._guid(),
                    "ProcessId": str(self.ids.randrange(1000, 20000)),
                    "Image": image,
                    "CommandLine": command,
                    "CurrentDirectory": cwd,
                    "User": user,
                    "LogonId": f"0x{self.ids.getrandbits(24):x}",
                    "IntegrityLevel": "Medium",
                    "Hashes": f"SHA256={self.ids.getrandbits(256):064X}",
                    "ParentProcessGuid": self._guid(),
                    "ParentProcessId": str(self.ids.randrange(1000, 20000)),
                    "ParentImage": parent,
                    "ParentCommandLine": parent_command,
                    "ParentUser": user,
                },
            )
        )

    def process_4688(
        self, ts: datetime, computer: str, domain: str, user: str, image: str, command: str, parent: str
    ) -> None:
        self.events.append(
            WinEvent(
                ts,
                computer,
                4688,
                {
                    "SubjectUserSid": f"S-1-5-21-3623811015-3361044348-30300820-{self.ids.randrange(1100, 4000)}",
                    "SubjectUserName": user,
                    "SubjectDomainName": domain,
                    "SubjectLogonId": f"0x{self.ids.getrandbits(24):x}",
                    "NewProcessId": f"0x{self.ids.getrandbits(14):x}",
                    "NewProcessName": image,
                    "TokenElevationType": "%%1938",
                    "ProcessId": f"0x{self.ids.getrandbits(14):x}",
                    "CommandLine": command,
                    "ParentProcessName": parent,
                    "MandatoryLabel": "S-1-16-8192",
                },
            )
        )

    def issuance(
        self,
        ts: datetime,
        requester: str,
        subject: str,
        template: str,
        san: str,
        ccm: str,
        *,
        serial: str | None = None,
        ski: str | None = None,
    ) -> WinEvent:
        """4886 (received) then 4887 (issued, Disposition 3) on the CA; returns the 4887."""
        self.request_id += 1
        request = str(self.request_id)
        attributes = f"CertificateTemplate:{template}\nccm:{ccm}"
        self.events.append(
            WinEvent(
                ts - timedelta(seconds=1, microseconds=self.ids.randrange(400_000)),
                CA_HOST,
                4886,
                {
                    "RequestId": request,
                    "Requester": requester,
                    "Attributes": attributes,
                    "Subject": subject,
                    "SubjectAlternativeName": san,
                    "CertificateTemplate": template,
                    "RequestOSVersion": "10.0.19045.2",
                    "RequestCSPProvider": "Microsoft Software Key Storage Provider",
                    "AuthenticationService": "Kerberos",
                    "AuthenticationLevel": "Privacy",
                    "DCOMorRPC": "DCOM",
                },
            )
        )
        serial = serial or f"1a{self.request_id:08x}{self.ids.getrandbits(80):020x}{self.request_id:08x}"
        ski = ski or " ".join(f"{b:02x}" for b in self.ids.randbytes(20))
        issued = WinEvent(
            ts,
            CA_HOST,
            4887,
            {
                "RequestId": request,
                "Requester": requester,
                "Attributes": attributes,
                "Disposition": "3",
                "SubjectKeyIdentifier": ski,
                "Subject": subject,
                "SubjectAlternativeName": san,
                "CertificateTemplate": template,
                "SerialNumber": serial,
                "AuthenticationService": "Kerberos",
                "AuthenticationLevel": "Privacy",
                "DCOMorRPC": "DCOM",
            },
        )
        self.events.append(issued)
        return issued

    def numbered(self, now: datetime) -> list[WinEvent]:
        """The events in time order, each with its host's next EventRecordID (unique per build)."""
        # Every host's numbering starts a full stride higher for each second of build time, and a build
        # never uses a stride on one host, so no event of a later build repeats an earlier build's id
        # (the AD CS alert's id is its record id).
        assert len(self.events) * _MAX_RECORD_STEP < _RECORD_STRIDE
        base = int(now.timestamp()) * _RECORD_STRIDE
        counters: dict[str, int] = {}
        out = []
        for event in sorted(self.events, key=lambda e: e.ts):
            start = base + int(hashlib.sha256(event.computer.encode()).hexdigest()[:4], 16) * 1000
            counters[event.computer] = counters.get(event.computer, start) + self.ids.randrange(1, _MAX_RECORD_STEP)
            out.append(WinEvent(event.ts, event.computer, event.event_id, event.data, counters[event.computer]))
        return out


def windows_events(now: datetime, rogue: x509.Certificate) -> list[WinEvent]:
    log = _WindowsLog(now)
    # background: machine autoenrollment (template Machine: allowlisted automation) and a user certificate
    for before, machine in _MACHINE_ENROLLMENTS:
        fqdn = f"{machine}.corp.example"
        log.issuance(
            now - before, f"CORP\\{machine}$", f"CN={fqdn}", AUTOMATION_TEMPLATE, f"DNS Name={fqdn.lower()}", fqdn
        )
    log.issuance(
        now - timedelta(hours=100),
        "CORP\\alice",
        "CN=Alice Example, OU=Users, DC=corp, DC=example",
        "User",
        "Other Name:Principal Name=alice@corp.example",
        "WS-0120.corp.example",
    )
    # background: certificate tools that create nothing
    log.sysmon(
        now - timedelta(hours=80),
        "ws-0137.corp.example",
        "CORP\\jsmith",
        _CERTUTIL,
        "certutil.exe -verify -urlfetch C:\\Users\\jsmith\\Downloads\\vendor.cer",
        _CMD,
        "cmd.exe",
        "C:\\Users\\jsmith\\",
    )
    log.process_4688(
        now - timedelta(hours=30),
        "WS-0150.corp.example",
        "CORP",
        "carol",
        "C:\\tools\\openssl.exe",
        "openssl x509 -in server.crt -noout -text",
        _CMD,
    )

    # internal story: mallory makes a request for a Microsoft name on her workstation and the CA issues it
    issued = now - ROGUE_ISSUED
    docs = "C:\\Users\\mallory\\Documents"
    log.sysmon(
        issued - timedelta(minutes=6, seconds=12),
        "WS-0199.corp.example",
        ROGUE_REQUESTER,
        _CERTREQ,
        f"certreq.exe -new {docs}\\login.inf {docs}\\login.req",
        _CMD,
        "cmd.exe",
        f"{docs}\\",
    )
    log.sysmon(
        issued - timedelta(seconds=3, milliseconds=410),
        "WS-0199.corp.example",
        ROGUE_REQUESTER,
        _CERTREQ,
        f'certreq.exe -submit -config "{CA_HOST}\\{CA_NAME}" -attrib "CertificateTemplate:WebServer" '
        f"{docs}\\login.req {docs}\\login.cer",
        _CMD,
        "cmd.exe",
        f"{docs}\\",
    )
    ski = rogue.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    log.issuance(
        issued,
        ROGUE_REQUESTER,
        _adcs_subject(rogue.subject),
        "WebServer",
        f"DNS Name={ROGUE_HOST}",
        "WS-0199.corp.example",
        serial=adcs_serial(rogue),
        ski=" ".join(f"{b:02x}" for b in ski),
    )

    # mimicry story: the certificate is made on ws-0137 (notBefore = this second), and within the hour two
    # unrelated people elsewhere make self-signed certificates of their own
    made = now - MIMICRY_CREATED - timedelta(milliseconds=820)
    log.sysmon(
        made,
        "ws-0137.corp.example",
        "CORP\\jsmith",
        _GIT_OPENSSL,
        f'"{_GIT_OPENSSL}" req -x509 -newkey rsa:2048 -nodes -sha256 -days 365 -keyout cdn.key -out cdn.crt '
        f'-subj "{MIMICRY_SUBJECT}" -addext "subjectAltName=DNS:{MIMICRY_HOST}" '
        '-addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth"',
        "C:\\Program Files\\Git\\usr\\bin\\bash.exe",
        "/usr/bin/bash --login -i",
        "C:\\Users\\jsmith\\AppData\\Local\\Temp\\",
    )
    log.sysmon(
        now - MIMICRY_CREATED + timedelta(minutes=16, seconds=7),
        "ws-0212.corp.example",
        "CORP\\dlee",
        _POWERSHELL,
        'powershell.exe -NoProfile -Command "New-SelfSignedCertificate -DnsName files-sync.example.net '
        '-CertStoreLocation Cert:\\CurrentUser\\My -NotAfter (Get-Date).AddYears(2)"',
        _EXPLORER,
        "C:\\Windows\\Explorer.EXE",
        "C:\\Users\\dlee\\",
    )
    log.process_4688(
        now - MIMICRY_CREATED + timedelta(minutes=29, seconds=40),
        "BUILD-03.corp.example",
        "CORP",
        "svc-ci",
        _KEYTOOL,
        f'"{_KEYTOOL}" -genkeypair -alias tomcat -keyalg RSA -keysize 2048 -validity 825 -keystore D:\\ci\\tomcat.jks '
        '-dname "CN=build-03.corp.example, OU=CI, O=Example Corp, C=US"',
        "C:\\Program Files\\Jenkins\\jenkins.exe",
    )
    return log.numbered(now)


def _adcs_subject(name: x509.Name) -> str:
    """The subject as AD CS logs it: most specific attribute first, ``S=`` for the state."""
    labels = {"ST": "S"}
    parts = [
        f"{labels.get(a.rfc4514_attribute_name, a.rfc4514_attribute_name)}={a.value!s}"
        for rdn in name.rdns
        for a in rdn
    ]
    return ", ".join(reversed(parts))
