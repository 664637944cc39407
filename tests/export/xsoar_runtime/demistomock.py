"""The `demistomock` module an XSOAR integration imports, as its unit tests meet it: every function a stub
that a test patches (params, args, command, results, incidents, last run, logs).

Written for certsoar's tests from the documented interface (XSOAR's unit-testing guide): the content
repository's own demistomock.py is not on any package registry this project installs from."""

from typing import Any


def params() -> dict[str, Any]:
    return {}


def args() -> dict[str, Any]:
    return {}


def command() -> str:
    return ""


def results(entry: Any) -> None:
    return None


def incidents(incidents: list[dict[str, Any]]) -> None:
    return None


def getLastRun() -> dict[str, Any]:  # noqa: N802 (XSOAR's name)
    return {}


def setLastRun(obj: dict[str, Any]) -> None:  # noqa: N802 (XSOAR's name)
    return None


def debug(msg: str) -> None:
    return None


def info(msg: str) -> None:
    return None


def error(msg: str) -> None:
    return None
