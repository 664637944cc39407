"""Squid connector: the fingerprint file, and the real squid 5 parsing and enforcing it."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from realcomponents import missing, require_squid_with_ssl_bump, require_tool

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.proxy import Proxy
from certsoar.connectors.proxy.squid import HEADER, SquidProxy, SquidSettings, normalize_sha1, squid_form
from certsoar.errors import ConnectorRejected

CERTGEN = "/usr/lib/squid/security_file_certgen"  # Debian's path; only the live test runs it
FP_A = "ab2a82af46ae1f31217465bf564725d1875141ae"
FP_B = "0123456789abcdef0123456789abcdef01234567"


def make_proxy(tmp_path: Path, **overrides: object) -> SquidProxy:
    settings = SquidSettings.model_validate({"fingerprint_file": "rogue_fp.txt", **overrides})
    env = ConnectorEnv(name="proxy", state_dir=tmp_path / "state", config_dir=tmp_path)
    return SquidProxy(settings, env)


def need(tool: str) -> str:
    # every squid test here parses or runs an ssl-bump configuration
    return require_squid_with_ssl_bump() if tool == "squid" else require_tool(tool)


# ------------------------------------------------------------------------- file only


async def test_satisfies_protocol(tmp_path: Path) -> None:
    proxy = make_proxy(tmp_path)
    assert isinstance(proxy, Proxy)
    assert proxy.path == tmp_path / "rogue_fp.txt"
    assert await proxy.blocked_fingerprints() == set()


async def test_file_format(tmp_path: Path) -> None:
    proxy = make_proxy(tmp_path, squid="/nonexistent/squid")  # reconfigure is off: squid never runs
    await proxy.block_fingerprint("AB:2A:82:AF:46:AE:1F:31:21:74:65:BF:56:47:25:D1:87:51:41:AE", "C2 on evil.example")
    await proxy.block_fingerprint(FP_B.upper(), "second")
    assert proxy.path.read_text() == (
        HEADER
        + "# C2 on evil.example\n"
        + "AB:2A:82:AF:46:AE:1F:31:21:74:65:BF:56:47:25:D1:87:51:41:AE\n"
        + "# second\n"
        + "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67\n"
    )
    assert "-sha1" not in proxy.path.read_text()
    assert await proxy.blocked_fingerprints() == {FP_A, FP_B}
    assert proxy.path.stat().st_mode & 0o777 == 0o644  # squid reads it as its own user


async def test_line_matches_openssl_fingerprint_output(tmp_path: Path) -> None:
    openssl = need("openssl")
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=rogue.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    printed = subprocess.run(
        [openssl, "x509", "-noout", "-fingerprint", "-sha1", "-in", cert], check=True, capture_output=True, text=True
    ).stdout.strip()
    colon_hex = printed.split("=", 1)[1]  # "SHA1 Fingerprint=AB:CD:..."
    proxy = make_proxy(tmp_path)
    await proxy.block_fingerprint(colon_hex.lower(), "x")
    assert proxy.path.read_text().splitlines()[-1] == colon_hex


@pytest.mark.parametrize(
    "form",
    [FP_A, FP_A.upper(), squid_form(FP_A), squid_form(FP_A).lower(), "Ab2A82aF46ae1f31217465bf564725d1875141AE"],
)
def test_any_hex_form_normalizes(form: str) -> None:
    assert normalize_sha1(form) == FP_A


async def test_idempotent_no_write_no_squid_call(tmp_path: Path) -> None:
    proxy = make_proxy(tmp_path)
    await proxy.block_fingerprint(FP_A, "first")
    before = proxy.path.read_bytes()
    stat = proxy.path.stat()
    # reconfigure on with a squid that does not exist: an existing entry must not reach it.
    again = make_proxy(tmp_path, reconfigure=True, squid="/nonexistent/squid")
    await again.block_fingerprint(squid_form(FP_A), "other reason")
    await again.block_fingerprint(FP_A.upper(), "other reason")
    assert proxy.path.read_bytes() == before
    assert (proxy.path.stat().st_mtime_ns, proxy.path.stat().st_ino) == (stat.st_mtime_ns, stat.st_ino)


async def test_unblock_removes_the_fingerprint_and_its_reason(tmp_path: Path) -> None:
    proxy = make_proxy(tmp_path)
    await proxy.block_fingerprint(FP_A, "rogue one")
    await proxy.block_fingerprint(FP_B, "rogue two")
    assert await proxy.is_blocked(squid_form(FP_A))
    await proxy.unblock_fingerprint(squid_form(FP_A))
    assert await proxy.blocked_fingerprints() == {FP_B} and not await proxy.is_blocked(FP_A)
    text = proxy.path.read_text()
    assert "rogue one" not in text and "# rogue two\n" + squid_form(FP_B) in text
    stat = proxy.path.stat()
    # absent: no write, and a squid that does not exist is never called
    await make_proxy(tmp_path, reconfigure=True, squid="/nonexistent/squid").unblock_fingerprint(FP_A)
    assert (proxy.path.stat().st_mtime_ns, proxy.path.stat().st_ino) == (stat.st_mtime_ns, stat.st_ino)
    with pytest.raises(ConnectorRejected):
        await proxy.unblock_fingerprint("not-a-sha1\n" + FP_B)
    assert await proxy.blocked_fingerprints() == {FP_B}


async def test_duplicates_in_the_file_are_collapsed(tmp_path: Path) -> None:
    proxy = make_proxy(tmp_path)
    proxy.path.write_text(
        f"# hand written\n{squid_form(FP_A)}\n{FP_A}\n\n  {squid_form(FP_A).lower()}  \n# kept reason\n{FP_B}\n"
    )
    assert await proxy.blocked_fingerprints() == {FP_A, FP_B}
    await proxy.block_fingerprint("ff" * 20, "new")
    lines = [line for line in proxy.path.read_text().splitlines() if not line.startswith("#")]
    assert lines == [squid_form(FP_A), squid_form(FP_B), squid_form("ff" * 20)]
    assert "# kept reason\n" + squid_form(FP_B) in proxy.path.read_text()


@pytest.mark.parametrize(
    "hostile",
    [
        FP_A + "\nhttp_access allow all",
        FP_A[:-1],
        FP_A + "0",
        "-sha1 " + squid_form(FP_A),
        squid_form(FP_A) + ":",
        "AB2A:82AF:46AE:1F31:2174:65BF:5647:25D1:8751:41AE",
        "g" * 40,
        " " + FP_A,
        "",
        '"/etc/passwd"',
    ],
)
async def test_hostile_fingerprints_are_rejected(tmp_path: Path, hostile: str) -> None:
    proxy = make_proxy(tmp_path)
    with pytest.raises(ConnectorRejected):
        await proxy.block_fingerprint(hostile, "x")
    assert not proxy.path.exists()


async def test_hostile_comment_stays_one_comment_line(tmp_path: Path) -> None:
    proxy = make_proxy(tmp_path)
    await proxy.block_fingerprint(FP_A, "evil\n" + squid_form(FP_B) + "\r\nhttp_access allow all\x00" + "x" * 500)
    assert await proxy.blocked_fingerprints() == {FP_A}
    comment_line = proxy.path.read_text().splitlines()[-2]
    assert comment_line.startswith("# evil " + squid_form(FP_B) + " http_access allow all")
    assert len(comment_line) <= 202 and comment_line.endswith("...")


async def test_foreign_line_in_file_is_refused(tmp_path: Path) -> None:
    proxy = make_proxy(tmp_path)
    proxy.path.write_text(f"{squid_form(FP_A)}\nhttp_access allow all\n")
    with pytest.raises(ConnectorRejected, match=r"rogue_fp.txt:2"):
        await proxy.blocked_fingerprints()


# ---------------------------------------------------------------------- real squid


def write_squid_conf(folder: Path, fingerprint_file: Path, port: int, *, extra: str = "") -> Path:
    """A minimal ssl-bump configuration that blocks the listed server certificates."""
    ca_key, ca_cert = folder / "bump-ca.key", folder / "bump-ca.pem"
    if not ca_cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_cert,
             "-days", "1", "-subj", "/CN=certsoar test bump CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            check=True, capture_output=True,
        )  # fmt: skip
        ca_key.chmod(0o644)  # throw-away key; squid reads it after dropping root
    conf = folder / "squid.conf"
    conf.write_text(
        f"""\
http_port 127.0.0.1:{port} ssl-bump cert={ca_cert} key={ca_key} generate-host-certificates=on dynamic_cert_mem_cache_size=4MB
sslcrtd_program {CERTGEN} -s {folder}/ssl_db -M 4MB
sslcrtd_children 2 startup=1 idle=1
acl rogue_certs server_cert_fingerprint "{fingerprint_file}"
acl step1 at_step SslBump1
acl step2 at_step SslBump2
acl step3 at_step SslBump3
ssl_bump peek step1
ssl_bump peek step2
ssl_bump terminate step3 rogue_certs
ssl_bump splice all
http_access allow localhost
http_access deny all
pid_filename {folder}/squid.pid
cache_log {folder}/cache.log
access_log stdio:{folder}/access.log
coredump_dir {folder}
{extra}"""
    )
    return conf


def squid_parse(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["squid", "-k", "parse", "-f", str(conf)], capture_output=True, text=True, timeout=60)


@pytest.mark.real
async def test_squid_parses_config_loading_generated_file(tmp_path: Path) -> None:
    need("squid")
    need("openssl")
    proxy = make_proxy(tmp_path)
    await proxy.block_fingerprint(FP_A, "first")
    await proxy.block_fingerprint(FP_B, "second")
    conf = write_squid_conf(tmp_path, proxy.path, 39_503)
    parsed = squid_parse(conf)
    output = parsed.stdout + parsed.stderr
    assert parsed.returncode == 0, output
    assert f'acl rogue_certs server_cert_fingerprint "{proxy.path}"' in output  # the ACL line was processed
    assert "ERROR" not in output and "FATAL" not in output and "empty ACL" not in output, output


@pytest.mark.real
async def test_squid_parse_notices_a_missing_list(tmp_path: Path) -> None:
    """Why the connector reads the parse output: squid exits 0 when an ACL file is missing."""
    need("squid")
    need("openssl")
    conf = write_squid_conf(tmp_path, tmp_path / "absent.txt", 39_500)
    parsed = squid_parse(conf)
    assert parsed.returncode == 0
    assert "ERROR: Can not open file" in parsed.stdout + parsed.stderr


@pytest.mark.real
async def test_reconfigure_parse_failure_restores_the_old_file(tmp_path: Path) -> None:
    need("squid")
    need("openssl")
    proxy_path = tmp_path / "rogue_fp.txt"
    conf = write_squid_conf(tmp_path, proxy_path, 39_501, extra="this_is_not_a_directive on\n")
    plain = make_proxy(tmp_path)
    await plain.block_fingerprint(FP_A, "before")
    before = proxy_path.read_bytes()
    proxy = make_proxy(tmp_path, reconfigure=True, squid_config=str(conf))
    with pytest.raises(ConnectorRejected, match="this_is_not_a_directive|FATAL|ERROR"):
        await proxy.block_fingerprint(FP_B, "after")
    assert proxy_path.read_bytes() == before
    assert await proxy.blocked_fingerprints() == {FP_A}


@pytest.mark.real
async def test_reconfigure_without_running_squid_is_refused_and_restored(tmp_path: Path) -> None:
    need("squid")
    need("openssl")
    conf = write_squid_conf(tmp_path, tmp_path / "rogue_fp.txt", 39_502)
    proxy = make_proxy(tmp_path, reconfigure=True, squid_config=str(conf))
    with pytest.raises(ConnectorRejected, match="reconfigure"):
        await proxy.block_fingerprint(FP_A, "nobody listens")
    assert not proxy.path.exists()


# ------------------------------------------------- live: squid enforces the list (loopback)


class TlsServer:
    """A loopback TLS 1.2 server that greets with b"hello\\n" (TLS 1.3 hides the certificate
    from a peeking proxy, see the module note)."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    with self.context.wrap_socket(conn, server_side=True) as tls:
                        tls.sendall(b"hello\n")
                except OSError:
                    pass  # the proxy terminated the handshake

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()


UNAVAILABLE = "proxy unavailable"


def through_proxy(proxy_port: int, server_port: int, sni: str) -> str:
    """CONNECT through squid, then a TLS handshake: 'ok', UNAVAILABLE (squid is not
    accepting, e.g. while it reconfigures), or 'tls failed: ...' after a 200 to CONNECT."""
    try:
        raw = socket.create_connection(("127.0.0.1", proxy_port), timeout=5)
    except OSError:
        return UNAVAILABLE
    with raw:
        try:
            raw.sendall(f"CONNECT {sni}:{server_port} HTTP/1.1\r\nHost: {sni}:{server_port}\r\n\r\n".encode())
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = raw.recv(1024)
                if not chunk:
                    return UNAVAILABLE
                reply += chunk
        except OSError:
            return UNAVAILABLE
        if not reply.startswith(b"HTTP/1.1 200"):
            return "CONNECT refused: " + reply.split(b"\r\n", 1)[0].decode()
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        try:
            with client.wrap_socket(raw, server_hostname=sni) as tls:
                data = tls.recv(16)
        except OSError as exc:
            return f"tls failed: {type(exc).__name__}: {exc}"
        return "ok" if data == b"hello\n" else f"tls failed: got {data!r}"


def server_certificate(folder: Path, name: str, ca: tuple[Path, Path]) -> tuple[Path, Path, str]:
    """A leaf for ``name`` signed by the test server CA (so squid's own validation passes
    and only the fingerprint list decides); returns cert, key and the openssl SHA-1 text."""
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", f"/CN={name}", "-CA", ca[0], "-CAkey", ca[1],
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    printed = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in", cert], check=True, capture_output=True, text=True
    ).stdout
    return cert, key, printed.strip().split("=", 1)[1]


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@dataclass
class LiveSquid:
    folder: Path
    conf: Path
    port: int
    fingerprint_file: Path
    server_ca: tuple[Path, Path]


@pytest.fixture
def live_squid() -> Iterator[LiveSquid]:
    """squid -N on a free loopback port, everything under a private /tmp folder."""
    squid = need("squid")
    need("openssl")
    if not os.access(CERTGEN, os.X_OK):
        raise missing(f"{CERTGEN} (squid's certificate generator helper) is not installed")
    user: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("proxy")
        except KeyError:
            raise missing("running as root but there is no 'proxy' user for squid to switch to") from None
    folder = Path(tempfile.mkdtemp(prefix="certsoar-squid-", dir="/tmp"))
    process: subprocess.Popen[bytes] | None = None
    try:
        server_ca = (folder / "server-ca.pem", folder / "server-ca.key")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", server_ca[1], "-out", server_ca[0],
             "-days", "1", "-subj", "/CN=certsoar test server CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run([CERTGEN, "-c", "-s", str(folder / "ssl_db"), "-M", "4MB"], check=True, capture_output=True)
        (folder / "hosts").write_text("127.0.0.1 rogue.test good.test\n")
        extra = (
            "shutdown_lifetime 0 seconds\npinger_enable off\nnetdb_filename none\ncache_mem 8 MB\n"
            f"hosts_file {folder}/hosts\n"
            f"tls_outgoing_options cafile={server_ca[0]}\n"
        )
        if user is not None:
            extra += f"cache_effective_user {user.pw_name}\n"
        fingerprint_file = folder / "rogue_fp.txt"
        fingerprint_file.write_text(HEADER + squid_form(FP_B) + "\n")  # an unrelated entry: the ACL is not empty
        port = free_port()
        conf = write_squid_conf(folder, fingerprint_file, port, extra=extra)
        folder.chmod(0o755)
        if user is not None:  # squid writes logs, pid file and the helper db as that user
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        with open(folder / "squid.out", "wb") as log:
            process = subprocess.Popen([squid, "-N", "-f", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log_text = (folder / "squid.out").read_text(errors="replace")[-2000:]
                    pytest.fail(f"squid did not start listening on {port}:\n{log_text}")
                time.sleep(0.1)
        yield LiveSquid(folder, conf, port, fingerprint_file, server_ca)
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if not os.environ.get("CERTSOAR_KEEP_SQUID_DIR"):
            shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.real
async def test_live_squid_terminates_listed_certificate_only(tmp_path: Path, live_squid: LiveSquid) -> None:
    rogue_cert, rogue_key, rogue_sha1 = server_certificate(tmp_path, "rogue.test", live_squid.server_ca)
    good_cert, good_key, _ = server_certificate(tmp_path, "good.test", live_squid.server_ca)
    rogue, good = TlsServer(rogue_cert, rogue_key), TlsServer(good_cert, good_key)

    async def attempt(server: TlsServer, sni: str, *, until_not: str = "") -> str:
        deadline = time.monotonic() + 20  # squid -k reconfigure only signals; the reload is asynchronous
        while True:
            outcome = await asyncio.to_thread(through_proxy, live_squid.port, server.port, sni)
            if outcome not in (UNAVAILABLE, until_not) or time.monotonic() > deadline:
                return outcome
            await asyncio.sleep(0.3)

    try:
        assert await attempt(rogue, "rogue.test") == "ok"  # not listed yet: spliced
        assert await attempt(good, "good.test") == "ok"

        settings = {"fingerprint_file": "rogue_fp.txt", "reconfigure": True, "squid_config": str(live_squid.conf)}
        env = ConnectorEnv(name="proxy", state_dir=tmp_path, config_dir=live_squid.folder)
        proxy = SquidProxy(SquidSettings.model_validate(settings), env)
        await proxy.block_fingerprint(rogue_sha1, "rogue.test presents an adversary-built certificate")
        assert await proxy.blocked_fingerprints() == {normalize_sha1(rogue_sha1), FP_B}

        outcome = await attempt(rogue, "rogue.test", until_not="ok")
        assert outcome.startswith("tls failed"), outcome  # CONNECT accepted, then squid terminated the handshake
        assert await attempt(good, "good.test") == "ok"  # the unlisted certificate still passes

        await proxy.unblock_fingerprint(rogue_sha1)  # released: squid reloads the list and splices it again
        assert not await proxy.is_blocked(rogue_sha1)
        assert await attempt(rogue, "rogue.test", until_not=outcome) == "ok"
    finally:
        rogue.close()
        good.close()


# ------------------------------------------------- concurrent writers in separate processes

WRITERS = 8
TRIALS = 10


def _block_from_a_process(
    folder: Path, sha1: str, start: BarrierType, results: "multiprocessing.Queue[tuple[str, bool | str]]"
) -> None:
    """One approval's worth of work in its own process: block one fingerprint, then read it back."""
    proxy = make_proxy(folder, squid="/nonexistent/squid")

    async def block_and_read_back() -> bool:
        await proxy.block_fingerprint(sha1, f"run for {sha1[:8]}")
        return sha1 in await proxy.blocked_fingerprints()

    start.wait()  # every process is released at the same instant
    try:
        results.put((sha1, asyncio.run(block_and_read_back())))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((sha1, f"{type(exc).__name__}: {exc}"))


def test_concurrent_processes_lose_no_fingerprint(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for trial in range(TRIALS):
        fingerprints = [hashlib.sha1(f"{trial}-{n}".encode()).hexdigest() for n in range(WRITERS)]
        start = context.Barrier(WRITERS)
        results: multiprocessing.Queue[tuple[str, bool | str]] = context.Queue()
        processes = [
            context.Process(target=_block_from_a_process, args=(tmp_path, sha1, start, results))
            for sha1 in fingerprints
        ]
        for process in processes:
            process.start()
        read_backs = dict(results.get(timeout=60) for _ in processes)
        for process in processes:
            process.join(timeout=60)
        assert read_backs == {sha1: True for sha1 in fingerprints}, f"trial {trial}"
        listed = asyncio.run(make_proxy(tmp_path).blocked_fingerprints())
        assert set(fingerprints) <= listed, f"trial {trial}: the list lacks {sorted(set(fingerprints) - listed)}"
    assert len(listed) == WRITERS * TRIALS


# ------------------------------------------- hypothesis: no input text reaches the list


HEX_FORMS = st.binary(min_size=20, max_size=20).flatmap(
    lambda digest: st.sampled_from(
        [
            digest.hex(),
            digest.hex().upper(),
            ":".join(f"{b:02X}" for b in digest),
            ":".join(f"{b:02x}" for b in digest),
        ]
    )
)


@settings(max_examples=150, deadline=None)
@given(
    fingerprints=st.lists(
        st.one_of(st.text(max_size=70), HEX_FORMS, HEX_FORMS.map(lambda h: h + "\n# x")), min_size=1, max_size=5
    ),
    comment=st.text(max_size=300),
)
def test_any_fingerprint_and_comment_text_leaves_a_list_squid_and_certsoar_can_read(
    fingerprints: list[str], comment: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        proxy = make_proxy(Path(folder))
        accepted: set[str] = set()
        for text in fingerprints:
            try:
                asyncio.run(proxy.block_fingerprint(text, comment))
            except ConnectorRejected:
                continue
            accepted.add(text.replace(":", "").lower())
        if not proxy.path.exists():
            assert accepted == set()
            return
        assert asyncio.run(proxy.blocked_fingerprints()) == accepted
        for line in proxy.path.read_text(encoding="ascii").splitlines():
            assert line.startswith("# ") or re.fullmatch(r"(?:[0-9A-F]{2}:){19}[0-9A-F]{2}", line), line
