"""Arbitrary input never raises from the parsers the correlators rely on."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import SiemQuery
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings
from certsoar.connectors.siem.windows import normalize_windows
from certsoar.correlation.commands import command_subject, creation_command
from certsoar.correlation.identity import canonical_account, canonical_dn, parse_server, short_host

_words = st.sampled_from(
    [
        "openssl",
        "req",
        "-x509",
        "powershell",
        "-enc",
        "-c",
        "cmd",
        "/c",
        "New-SelfSignedCertificate",
        "keytool",
        "-genkey",
        "certreq",
        "-new",
        '"',
        "'",
        ";",
        "&&",
        "|",
        "sudo",
        "-u",
        "env",
        "A=1",
        "-subj",
        "/CN=x",
        "\\",
        "\n",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(_words, max_size=30).map(" ".join)))
def test_command_parsing_never_raises(line):
    label = creation_command(line)
    assert label is None or isinstance(label, str)
    as_script = creation_command(line, script=True)
    assert as_script is None or isinstance(as_script, str)
    subject = command_subject(line)
    assert subject is None or isinstance(subject, str)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_identity_parsers_never_raise(text):
    dn = canonical_dn(text)
    assert dn is None or isinstance(dn, str)
    assert canonical_account(text) is None or canonical_account(text) == canonical_account(canonical_account(text))
    server = parse_server(text)
    assert server is None or 0 <= server[1] <= 65535
    short_host(text)


_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
_value = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["#text", "@Name", "Name", "Data", "SystemTime", "x"]), inner, max_size=3)
    ),
    max_leaves=10,
)
_windows_keys = st.sampled_from(
    [
        "EventID",
        "Computer",
        "TimeCreated",
        "UtcTime",
        "Image",
        "CommandLine",
        "User",
        "RequestId",
        "Requester",
        "Disposition",
        "SerialNumber",
        "Event",
        "System",
        "EventData",
        "winlog",
        "event",
        "ScriptBlockText",
    ]
)
_event_ids = st.sampled_from([1, "1", 4688, "4887", {"#text": "4886"}, 4104, 4870, 4888, None])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(_windows_keys, _value, max_size=8), _event_ids)
def test_windows_renderings_never_crash(tmp_path, obj, event_id):
    obj = {**obj, "EventID": event_id}
    found = normalize_windows(obj)
    assert found is None or all(isinstance(v, str) for v in found[1].values())
    log = tmp_path / "win.jsonl"
    log.write_text(json.dumps(obj, default=str) + "\n")
    s = FilesSiem(FilesSiemSettings(paths=[log]), ConnectorEnv(name="f", state_dir=tmp_path, config_dir=tmp_path))
    start = datetime(1970, 1, 2, tzinfo=timezone.utc)
    events = asyncio.run(
        s.search(SiemQuery(kinds=["process", "script", "adcs"], start=start, end=start + timedelta(days=60000)))
    )
    assert s.last_stats.records == 1 and len(events) <= 1
