"""``adcs``: what the CA conformance suite does not ask of it. The inventory streamed by request ID with requester
and template, read by position whatever the CA's language; reason codes; a revoke whose answer was lost is not
sent again; certutil's own refusals; certutil's csv read on a recorded-format file; the real pypsrp transport
against WinRM endpoints on loopback that refuse or fail."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from ca_vendors import ADCS_PASSWORD, CaVendor, FakeAdcs, adcs_vendor
from cryptography import x509

from certsoar.actions.revocation import FindInput, find_violations
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import HoldReleasing, RevocationReason
from certsoar.connectors.ca import certutil as fmt
from certsoar.connectors.ca.adcs import COLUMNS, AdcsCa
from certsoar.connectors.ca.psrp import Completed, Retryable, certutil_script, parse_reply, powershell_literal
from certsoar.context import ActionContext
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.health import _check_all
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore

DATA = Path(__file__).parents[2] / "data" / "adcs"
LOCAL = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")


@pytest.fixture
def vendor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CaVendor:
    return adcs_vendor(monkeypatch, tmp_path)


def fake_of(vendor: CaVendor) -> FakeAdcs:
    assert isinstance(vendor.fake, FakeAdcs)
    return vendor.fake


def views(fake: FakeAdcs) -> list[str]:
    return [sent.url for sent in fake.requests if "-view" in sent.url.split()]


# ------------------------------------------------------------------------------------------------ inventory


async def test_the_inventory_streams_in_request_order_with_requester_and_template(vendor: CaVendor) -> None:
    fake = fake_of(vendor)
    serials = [fake.issue(f"host{i}.corp.example", requester=f"CORP\\user{i}", template=f"Tpl{i}") for i in range(5)]
    ca = vendor.build(page_size=2)
    issued = [c async for c in ca.iter_issued()]
    # the CA's own certificate (disposition 15) and the denied request (31) are not issued certificates
    assert [c.serial for c in issued] == serials
    assert [(c.requester, c.template) for c in issued] == [(f"CORP\\user{i}", f"Tpl{i}") for i in range(5)]
    assert [c.position for c in issued] == ["3", "4", "5", "6", "7"]
    assert all(c.san_dns == [f"host{i}.corp.example"] and c.sha256 for i, c in enumerate(issued))
    # two request IDs a page: (0,2] (2,4] (4,6] (6,8], then an empty window and nothing after it
    assert [v.split("-restrict ")[1].split()[0] for v in views(fake)] == [
        "RequestID>0,RequestID<=2",
        "RequestID>2,RequestID<=4",
        "RequestID>4,RequestID<=6",
        "RequestID>6,RequestID<=8",
        "RequestID>8,RequestID<=10",
        "RequestID>10",
    ]


async def test_the_watermark_resumes_after_the_last_certificate_and_skips_deleted_rows(vendor: CaVendor) -> None:
    fake = fake_of(vendor)
    serials = [fake.issue(f"host{i}.corp.example") for i in range(6)]  # request IDs 3..8
    ca = vendor.build(page_size=2)
    first = [c async for c in ca.iter_issued()]
    for request_id in (5, 6, 7):  # certutil -deleterow left a gap wider than a page
        del fake.rows[request_id]
    later = [c async for c in ca.iter_issued(first[0].position)]
    assert [c.serial for c in later] == [serials[1], serials[5]]
    newest = fake.issue("new.corp.example")
    assert [c.serial async for c in ca.iter_issued(later[-1].position)] == [newest]
    with pytest.raises(ConnectorRejected, match="not an AD CS watermark"):
        await anext(ca.iter_issued("2026-11-30"))


async def test_a_ca_in_another_language_reads_the_same(vendor: CaVendor) -> None:
    fake = fake_of(vendor)
    serial = fake.issue("wiki.corp.example")
    fake.language = "de"
    ca = vendor.build()
    [listed] = await ca.list_issued()
    assert (listed.serial, listed.requester, listed.template) == (serial, "CORP\\svc-webops", "WebServer")
    assert (
        '"Seriennummer"'
        in (await fake.certutil(["-view", "-restrict", "RequestID>0", "-out", "SerialNumber", "csv"])).output
    )


# ------------------------------------------------------------------------------------------------- revoke


async def test_revoke_sends_the_reason_code_and_publishes_a_crl_that_says_it(vendor: CaVendor) -> None:
    fake = fake_of(vendor)
    serial = fake.issue("wiki.corp.example")
    ca = vendor.build()
    status = await ca.revoke(serial, RevocationReason.superseded)
    [revoke] = [s.url for s in fake.requests if "-revoke" in s.url.split()]
    assert revoke.split()[-3:] == ["-revoke", _even(serial), "4"]
    assert any(s.url.split()[-1] == "-crl" for s in fake.requests)  # AD CS publishes no CRL on revoke
    assert status.revoked and status.in_crl and status.reason == "superseded"
    assert status.revoked_at is not None and status.revoked_at.tzinfo is not None
    [held] = [c for c in await ca.list_issued() if c.serial == serial]
    assert held.status == "revoked" and held.revoked_at == status.revoked_at


def _even(serial: str) -> str:
    digits = serial.lower()
    return digits if len(digits) % 2 == 0 else "0" + digits


async def test_a_reason_ad_cs_does_not_take_is_refused_before_anything_is_sent(vendor: CaVendor) -> None:
    fake = fake_of(vendor)
    serial = fake.issue("wiki.corp.example")
    with pytest.raises(ConnectorRejected, match="AD CS takes no revocation reason privilegeWithdrawn"):
        await vendor.build().revoke(serial, RevocationReason.privilege_withdrawn)
    assert fake.requests == []


class LostAnswer:
    """The transport of a CA that applies the first -revoke but whose answer never arrives (a read timeout)."""

    def __init__(self, fake: FakeAdcs) -> None:
        self.fake = fake
        self.lost = False

    async def certutil(self, args: Sequence[str]) -> Completed:
        done = await self.fake.certutil(args)
        if "-revoke" in args and not self.lost:
            self.lost = True
            raise Retryable("WinRM: ReadTimeout after 120s (ReadTimeout)")
        return done


async def test_a_revoke_whose_answer_was_lost_is_not_sent_again(vendor: CaVendor, tmp_path: Path) -> None:
    fake = fake_of(vendor)
    serial = fake.issue("wiki.corp.example")
    built = vendor.build()
    assert isinstance(built, AdcsCa)
    ca = AdcsCa(built.settings, ConnectorEnv(name="adcs", state_dir=tmp_path), transport=LostAnswer(fake))
    status = await ca.revoke(serial, RevocationReason.key_compromise)
    assert status.revoked and status.in_crl
    assert fake.revocations(serial) == 1  # a second -revoke would have moved the revocation date


async def test_a_serial_the_database_does_not_hold_is_rejected_without_a_revoke(vendor: CaVendor) -> None:
    fake = fake_of(vendor)
    fake.issue("wiki.corp.example")
    with pytest.raises(ConnectorRejected, match="1234ABCD was not issued by this CA"):
        await vendor.build().revoke("12:34:AB:CD", RevocationReason.key_compromise)
    assert not any("-revoke" in s.url.split() for s in fake.requests)


async def test_certutil_refusing_the_account_is_a_permission_problem(vendor: CaVendor, tmp_path: Path) -> None:
    fake = fake_of(vendor)
    fake.issue("wiki.corp.example")
    fake.access_denied = True
    ca = vendor.build()
    with pytest.raises(ConnectorRejected, match=r"not authorized.*0x80070005"):
        await ca.ca_certificates()
    config = Config.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "config_dir": tmp_path,
            "connectors": {"ca": [{"type": "adcs", "name": "corp", "password": "env:CERTSOAR_TEST_ADCS_PASSWORD"}]},
        }
    )
    [check] = await _check_all(config, Connections(config, overrides={"ca": {"corp": ca}}))
    assert not check.ok and check.reachable and check.authenticated is False


# ------------------------------------------------------------------------------------------ certutil's csv


def test_the_recorded_format_reads_by_position() -> None:
    text = (DATA / "view-inventory.csv").read_bytes().decode("utf-8")  # CRLF as certutil prints it
    rows = list(fmt.view_rows(text, COLUMNS))
    assert [fmt.number(r["RequestID"]) for r in rows] == [1, 9, 10, 11]
    assert [fmt.number(r["Request.Disposition"]) for r in rows] == [15, 31, 20, 21]
    ca_row, denied, issued, revoked = rows
    assert ca_row["CertificateTemplate"] is None and denied["SerialNumber"] is None and denied["RawCertificate"] is None
    assert fmt.serial(issued["SerialNumber"]) == 0x610000000AA5C2F9B1C6B1E2D800000000000A
    assert issued["Request.RequesterName"] == "CORP\\svc-webops" and issued["Request.RevokedWhen"] is None
    assert revoked["Request.RequesterName"] == "CORP\\o'brien"
    assert revoked["CertificateTemplate"] == '1.3.6.1.4.1.311.21.8.4823151.2163290.1.1 Corp "Web" Server'
    assert fmt.gmt_date(revoked["Request.RevokedWhen"]) == datetime(2026, 11, 30, 16, 5, 9, tzinfo=timezone.utc)
    assert fmt.number(revoked["Request.RevokedReason"]) == 1
    cert = x509.load_pem_x509_certificate((revoked["RawCertificate"] or "").encode())
    assert cert.serial_number == fmt.serial(revoked["SerialNumber"])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('"A","B"\n"1","2","3"\n', "row 2 has 3 fields, 2 were asked for"),
        ('"A","B","C"\n', "the header has 3 columns, 2 were asked for"),
        ('"A","B"\n"1","-----BEGIN CERTIFICATE-----\nMIIB', "ends inside a quoted field"),
    ],
)
def test_output_that_cannot_be_told_apart_is_refused(text: str, problem: str) -> None:
    with pytest.raises(fmt.CertutilFormatError, match=problem):
        list(fmt.view_rows(text, ["RequestID", "RawCertificate"]))


def test_numbers_serials_and_dates_as_certutil_prints_them() -> None:
    assert [fmt.number(v) for v in ("0x15 (21) -- Revoked", "0x8", "21", "0x1 -- Key Compromise", None)] == [
        21,
        8,
        21,
        1,
        None,
    ]
    assert fmt.serial("61 00 00 00 0a") == 0x610000000A
    assert fmt.gmt_date("8/17/2025 7:34 PM GMT") == datetime(2025, 8, 17, 19, 34, tzinfo=timezone.utc)
    assert fmt.gmt_date("17.08.2025 19:34") is None  # another locale: not guessed at
    with pytest.raises(fmt.CertutilFormatError):
        fmt.serial("Serial Number")
    assert fmt.failure("-revoke", 0, "CertUtil: -revoke command completed successfully.") is None
    said = 'Revoking "Serial Number" -- Reason: Superseded\nCertUtil: -revoke command FAILED: 0x80070057 (WIN32: 87)'
    assert fmt.failure("-revoke", -2147024809, said) == "command FAILED: 0x80070057 (WIN32: 87)"
    assert fmt.failure("-crl", 5, "Zugriff verweigert.") == "-crl exited with 5 (0x00000005): Zugriff verweigert."


# ------------------------------------------------------------------------------------------ the transport


def test_arguments_reach_certutil_as_single_quoted_literals() -> None:
    assert powershell_literal("CA01\\Corp’s CA") == "'CA01\\Corp’’s CA'"
    script = certutil_script(["-config", "ca01\\O'Brien CA", "-getcrl", "<out-file>"])
    assert "$argv = @('-config', 'ca01\\O''Brien CA', '-getcrl', $out)" in script
    with pytest.raises(ValueError, match="double quote"):
        certutil_script(["-restrict", 'RequesterName="x"'])
    with pytest.raises(ValueError, match="control character"):
        powershell_literal("a\nb")


def test_the_reply_is_checked() -> None:
    done = parse_reply('{"exit":0,"output":"CertUtil: -crl command completed successfully.","file":"AQID"}')
    assert done == Completed(0, "CertUtil: -crl command completed successfully.", b"\x01\x02\x03")
    with pytest.raises(ConnectorRejected, match="something other than certutil's result"):
        parse_reply("Get-Item : Access denied")


class WinRmEndpoint(http.server.BaseHTTPRequestHandler):
    """A WinRM endpoint on loopback that answers every POST with ``status`` (and counts them)."""

    status = 500
    seen = 0

    def do_POST(self) -> None:  # noqa: N802 - the handler's name is http.server's
        type(self).seen += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>The service is unavailable.</body></html>"
        self.send_response(self.status)
        if self.status == 401:
            self.send_header("WWW-Authenticate", "Negotiate")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def endpoint() -> Iterator[tuple[str, type[WinRmEndpoint]]]:
    handler = type("Endpoint", (WinRmEndpoint,), {"seen": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/wsman", handler
    server.shutdown()
    server.server_close()


@LOCAL
async def test_the_real_transport_names_refused_credentials(
    vendor: CaVendor, endpoint: tuple[str, type[WinRmEndpoint]]
) -> None:
    url, handler = endpoint
    handler.status = 401
    with pytest.raises(ConnectorRejected, match=r"authentication failed.*HTTP 401") as caught:
        await vendor.build(url=url).ca_certificates()
    assert ADCS_PASSWORD not in str(caught.value)


@LOCAL
async def test_the_real_transport_tries_a_failing_endpoint_the_configured_times(
    vendor: CaVendor, endpoint: tuple[str, type[WinRmEndpoint]]
) -> None:
    url, handler = endpoint
    handler.status = 503
    with pytest.raises(ConnectorUnavailable, match=r"HTTP 503.*after 3 attempts"):
        await vendor.build(url=url, attempts=3).certificate("1A2B")
    assert handler.seen >= 3


# ------------------------------------------------------------------------------------------------- the sweep


async def test_the_revocation_sweep_reads_ad_cs_from_its_watermark(vendor: CaVendor, tmp_path: Path) -> None:
    fake = fake_of(vendor)
    fake.issue("wiki.corp.example")
    rogue = fake.issue("login.microsoftonline.com", requester="CORP\\mallory", template="WebServer")
    config = Config.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "config_dir": tmp_path,
            "organization": {"domains": ["corp.example"]},
            "policy": {"max_validity_days": 398},
            "connectors": {"ca": [{"type": "adcs", "name": "corp", "password": "env:CERTSOAR_TEST_ADCS_PASSWORD"}]},
        }
    )
    store = RunStore(tmp_path / "store.db")

    async def sweep(run_id: str, watermarks: dict[str, str]) -> Any:
        ctx = ActionContext(
            run_id=run_id,
            step_id="find",
            dry_run=False,
            now=datetime.now(timezone.utc),
            config=config,
            connectors=Connections(config, overrides={"ca": {"corp": vendor.build(page_size=2)}}),
            ledger=EffectLedger(store, store, run_id, dry_run=False),
            templates=None,  # type: ignore[arg-type]
        )
        return await find_violations(FindInput(watermarks=watermarks), ctx)

    first = await sweep("s1", {})
    assert (first.examined, [v.serial for v in first.violations]) == (2, [rogue])
    assert first.violations[0].ca == "corp" and first.watermarks == {"ca:corp": "4"}
    later = fake.issue("vpn.evil.example")
    second = await sweep("s2", first.watermarks)
    assert (second.examined, [v.serial for v in second.violations]) == (1, [later])
    assert second.watermarks == {"ca:corp": "5"}


async def test_a_hold_is_released_and_the_next_crl_omits_it(vendor: CaVendor) -> None:
    fake = fake_of(vendor)
    held, compromised = fake.issue("wiki.corp.example"), fake.issue("vpn.corp.example")
    ca = vendor.build()
    assert isinstance(ca, HoldReleasing)
    assert (await ca.revoke(held, RevocationReason.certificate_hold)).reason == "certificateHold"
    await ca.revoke(compromised, RevocationReason.key_compromise)
    released = await ca.release_hold(held)
    assert not released.revoked and not released.in_crl and released.known
    assert [s.url.split()[-3:] for s in fake.requests if "-1" in s.url.split()] == [["-revoke", _even(held), "-1"]]
    with pytest.raises(ConnectorRejected, match="revoked with reason keyCompromise: only a certificateHold"):
        await ca.release_hold(compromised)
    assert (await ca.status(compromised)).in_crl


async def test_the_watermark_waits_for_a_request_pending_approval(vendor: CaVendor) -> None:
    fake = fake_of(vendor)
    before = fake.issue("wiki.corp.example")  # request 3
    waiting = fake.pend()  # request 4: a template that needs a CA manager's approval
    after = fake.issue("vpn.corp.example")  # request 5
    ca = vendor.build(page_size=2)
    listed = [c async for c in ca.iter_issued()]
    assert [(c.serial, c.position) for c in listed] == [(before, "3"), (after, "3")]
    approved = fake.approve(waiting, "subca.corp.example")
    resumed = [c async for c in ca.iter_issued(listed[-1].position)]
    assert [(c.serial, c.position) for c in resumed] == [(approved, "4"), (after, "5")]
