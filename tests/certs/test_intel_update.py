"""`certsoar intel update`: SSLBL and the catalogue refreshed into the state dir, validated before anything is
replaced; which intel file is in force (configured, refreshed, shipped)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from pytest_httpx import HTTPXMock

from certsoar.certs.catalogue import load_catalogue
from certsoar.certs.intel import load_sslbl
from certsoar.certs.intel_update import update_intel
from certsoar.certs.intelfiles import catalogue_path, shipped, sslbl_path
from certsoar.cli import main
from certsoar.config import Config, load_config

SSLBL_URL = "https://sslbl.abuse.ch/blacklist/sslblacklist.csv"
CATALOGUE_URL = "https://intel.example.org/tool-catalogue.yaml"
EXCERPT = (Path(__file__).parent.parent / "data" / "sslbl" / "sslblacklist-excerpt.csv").read_bytes()
SHIPPED_CATALOGUE = shipped("tool-catalogue.yaml").read_bytes()


@pytest.fixture()
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "certsoar.yaml"
    path.write_text(f"state_dir: state\nintel:\n  catalogue_url: {CATALOGUE_URL}\n")
    return path


@pytest.fixture()
def config(config_file: Path) -> Config:
    return load_config(config_file)


def _update(config_file: Path) -> tuple[int, list[dict[str, str]]]:
    result = CliRunner().invoke(main, ["intel", "update", "--config", str(config_file), "--json"])
    return result.exit_code, json.loads(result.output)


def test_update_writes_both_files_into_the_state_dir_and_they_are_in_force(
    config_file: Path, config: Config, httpx_mock: HTTPXMock
):
    assert sslbl_path(config) == shipped("sslblacklist.csv")  # nothing refreshed yet: the snapshot
    httpx_mock.add_response(url=SSLBL_URL, content=EXCERPT)
    httpx_mock.add_response(url=CATALOGUE_URL, content=SHIPPED_CATALOGUE)
    code, results = _update(config_file)
    assert code == 0
    assert [(r["name"], r["outcome"]) for r in results] == [("sslbl", "updated"), ("catalogue", "updated")]
    assert results[0]["detail"] == "300 listed SHA-1s"
    assert sslbl_path(config) == config.state_dir / "intel" / "sslblacklist.csv"
    assert load_sslbl(sslbl_path(config)).lookup("2e3519b7cb61a3cd6167f727df993f68311085ea") is not None
    assert catalogue_path(config) == config.state_dir / "intel" / "tool-catalogue.yaml"
    assert len(load_catalogue(catalogue_path(config)).families) >= 40
    assert not shipped("sslblacklist.csv").is_relative_to(config.state_dir)


GARBLED = [
    (b"<html><body>502 Bad Gateway</body></html>", "row(s) are not Listingdate,SHA1,Listingreason"),
    (EXCERPT[: EXCERPT.index(b"\n", len(EXCERPT) // 2) + 1], "no '# END (N) entries' footer"),  # cut short
    (EXCERPT[: len(EXCERPT) // 2], "row(s) are not"),  # cut mid-row
    (EXCERPT.replace(b"# END (300) entries", b"# END (301) entries"), "the footer states 301 entries"),
    (b"# Listingdate,SHA1,Listingreason\n", "no blacklist row"),
    (b"\xff\xfe" + EXCERPT, "not UTF-8"),
]


@pytest.mark.parametrize(
    ("body", "why"), GARBLED, ids=["html", "truncated", "cut-mid-row", "footer", "empty", "binary"]
)
async def test_a_garbled_sslbl_keeps_the_old_file_and_says_why(
    config: Config, httpx_mock: HTTPXMock, body: bytes, why: str
):
    current = config.state_dir / "intel" / "sslblacklist.csv"
    current.parent.mkdir(parents=True)
    current.write_bytes(EXCERPT)
    httpx_mock.add_response(url=SSLBL_URL, content=body)
    httpx_mock.add_response(url=CATALOGUE_URL, content=SHIPPED_CATALOGUE)
    sslbl, catalogue = await update_intel(config)
    assert sslbl.outcome == "kept" and why in sslbl.detail, sslbl.detail
    assert current.read_bytes() == EXCERPT
    assert catalogue.outcome == "updated"


def test_a_garbled_catalogue_keeps_the_old_one_and_exits_1(config_file: Path, httpx_mock: HTTPXMock):
    httpx_mock.add_response(url=SSLBL_URL, content=EXCERPT)
    httpx_mock.add_response(url=CATALOGUE_URL, content=SHIPPED_CATALOGUE.replace(b"verdict: shape", b"verdict: maybe"))
    code, results = _update(config_file)
    assert code == 1
    assert results[1]["outcome"] == "kept" and "verdict" in results[1]["detail"]
    assert not Path(results[1]["path"]).exists()
    assert results[0]["outcome"] == "updated"


async def test_a_transient_server_error_is_retried(config: Config, httpx_mock: HTTPXMock):
    httpx_mock.add_response(url=SSLBL_URL, status_code=503)
    httpx_mock.add_response(url=SSLBL_URL, content=EXCERPT)
    httpx_mock.add_response(url=CATALOGUE_URL, content=SHIPPED_CATALOGUE)
    sslbl, _ = await update_intel(config)
    assert sslbl.outcome == "updated"
    assert len(httpx_mock.get_requests(url=SSLBL_URL)) == 2


async def test_an_unreachable_or_refusing_server_keeps_the_files(config: Config, httpx_mock: HTTPXMock):
    httpx_mock.add_response(url=SSLBL_URL, status_code=404)
    httpx_mock.add_exception(httpx.ConnectTimeout("timed out"), url=CATALOGUE_URL, is_reusable=True)
    sslbl, catalogue = await update_intel(config)
    assert (sslbl.outcome, sslbl.detail) == ("kept", "HTTP 404")
    assert catalogue.outcome == "kept" and "ConnectTimeout" in catalogue.detail
    assert len(httpx_mock.get_requests(url=SSLBL_URL)) == 1  # a 404 is not retried
    assert len(httpx_mock.get_requests(url=CATALOGUE_URL)) == 3
    assert sslbl_path(config) == shipped("sslblacklist.csv")


def test_a_configured_file_stays_in_force(tmp_path: Path):
    own = tmp_path / "mine.csv"
    own.write_bytes(EXCERPT)
    (tmp_path / "state" / "intel").mkdir(parents=True)
    (tmp_path / "state" / "intel" / "sslblacklist.csv").write_bytes(EXCERPT)
    path = tmp_path / "certsoar.yaml"
    path.write_text("state_dir: state\nintel:\n  sslbl: mine.csv\n  sslbl_url: null\n")
    config = load_config(path)
    assert sslbl_path(config) == own
    assert catalogue_path(config) == shipped("tool-catalogue.yaml")


def test_intel_is_fetched_over_https_only(tmp_path: Path):
    path = tmp_path / "certsoar.yaml"
    path.write_text("intel:\n  sslbl_url: http://sslbl.abuse.ch/blacklist/sslblacklist.csv\n")
    from certsoar.errors import ConfigError

    with pytest.raises(ConfigError, match="https:// only"):
        load_config(path)


def test_the_shipped_snapshot_is_sslbl_as_published():
    from certsoar.certs.intel_update import validate_sslbl

    assert validate_sslbl(shipped("sslblacklist.csv").read_text(encoding="utf-8")) == "5522 listed SHA-1s"


async def test_a_redirect_away_from_https_is_refused(config: Config, httpx_mock: HTTPXMock):
    httpx_mock.add_response(url=SSLBL_URL, status_code=302, headers={"Location": "http://mirror.example.org/bl.csv"})
    httpx_mock.add_response(url="http://mirror.example.org/bl.csv", content=EXCERPT)
    httpx_mock.add_response(url=CATALOGUE_URL, content=SHIPPED_CATALOGUE)
    sslbl, _ = await update_intel(config)
    assert sslbl.outcome == "kept" and "not https" in sslbl.detail
    assert sslbl_path(config) == shipped("sslblacklist.csv")
