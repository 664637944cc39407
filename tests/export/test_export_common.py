"""The part every SOAR export shares: the folder it writes into, the operations and run fields it maps."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from certsoar.cli import main
from certsoar.errors import ExportError
from certsoar.export import export
from certsoar.export.soar import RUN_FIELDS, operations, run_field
from certsoar.manifest import build_manifest


@pytest.fixture(scope="module")
def manifest() -> dict:
    return build_manifest()


def test_every_operation_is_described_by_the_service_endpoint_it_calls(manifest: dict) -> None:
    summaries = {(e["method"], e["path"]): e["summary"] for e in manifest["service"]}
    ops = {op.name: op for op in operations(manifest)}
    assert set(ops) == {
        "test_connectivity",
        "submit_alert",
        "get_run",
        "list_runs",
        "approve",
        "deny",
        "release",
    }
    for name in ("submit_alert", "get_run", "list_runs", "approve", "deny", "release"):
        assert ops[name].description == summaries[(ops[name].method, ops[name].path)]
    assert ops["approve"].scope == "decide" and ops["submit_alert"].scope == "alerts"
    assert ops["test_connectivity"].scope == "read"


def test_a_changed_endpoint_summary_changes_the_operation(manifest: dict) -> None:
    changed = {**manifest, "service": [dict(e) for e in manifest["service"]]}
    for e in changed["service"]:
        if e["path"] == "/v1/runs/{run_id}/approve":
            e["summary"] = "Approve, said differently"
    assert {op.name: op.description for op in operations(changed)}["approve"] == "Approve, said differently"


def test_a_manifest_without_an_endpoint_is_refused_by_name(manifest: dict) -> None:
    without = {**manifest, "service": [e for e in manifest["service"] if not e["path"].endswith("/deny")]}
    with pytest.raises(ExportError, match=r"POST /v1/runs/\{run_id\}/deny"):
        operations(without)


def test_run_fields_read_dotted_paths_and_say_none_where_missing() -> None:
    run = {"id": "r1", "verdict": {"severity": "high"}, "ticket": None}
    assert run_field(run, "id") == "r1"
    assert run_field(run, "verdict.severity") == "high"
    assert run_field(run, "ticket.id") is None
    assert run_field(run, "approval.status") is None
    assert len({f.path for f in RUN_FIELDS}) == len(RUN_FIELDS)


def test_export_refuses_a_folder_in_use_and_writes_nothing(tmp_path: Path, manifest: dict) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an empty folder"):
        export("xsoar", manifest, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    a_file = tmp_path / "keep.txt"
    with pytest.raises(ExportError, match="not an empty folder"):
        export("xsoar", manifest, a_file)


def test_export_refuses_an_unknown_platform(tmp_path: Path, manifest: dict) -> None:
    with pytest.raises(ExportError, match="no export for 'qradar-soar'"):
        export("qradar-soar", manifest, tmp_path / "out")


def test_cli_export_into_a_folder_in_use_exits_2_and_names_it(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("")
    result = CliRunner().invoke(main, ["export", "stackstorm", str(tmp_path)])
    assert result.exit_code == 2
    assert "not an empty folder" in result.output
