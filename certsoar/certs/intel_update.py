"""The refresh of the intel files (SSLBL blacklist, tool catalogue) from public URLs; which copy is in force is
certsoar.certs.intelfiles. An update downloads, validates the body as the file it replaces (SSLBL's CSV, or the
catalogue's model) and only then replaces the copy atomically; a failed or garbled download leaves the old file
and says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from certsoar.certs.catalogue import CATALOGUE_FILE, MAX_CATALOGUE_BYTES, CatalogueError, parse_catalogue
from certsoar.certs.intel import MAX_SSLBL_BYTES, parse_sslbl
from certsoar.certs.intelfiles import INTEL_DIR, SSLBL_FILE
from certsoar.config import Config
from certsoar.errors import CertsoarError
from certsoar.fileio import write_atomically

ATTEMPTS = 3


class UpdateResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["sslbl", "catalogue"]
    url: str | None
    path: str = Field(description="The file an update writes (in the state dir).")
    outcome: Literal["updated", "kept", "skipped"]
    detail: str = Field(description="Entries now in the file, or why the old file was kept.")


class DownloadRejected(CertsoarError):
    """The body is not the file it claims to be (the old file stays)."""


def validate_sslbl(text: str) -> str:
    """SSLBL's CSV: ``Listingdate,SHA1,Listingreason`` rows, every one parsable, closed by the
    ``# END (N) entries`` footer that counts them (a body cut short has no footer or the wrong count)."""
    index = parse_sslbl(text)
    if index.skipped_rows:
        raise DownloadRejected(f"{index.skipped_rows} row(s) are not Listingdate,SHA1,Listingreason")
    if not index.entries:
        raise DownloadRejected("no blacklist row")
    lines = text.splitlines()
    footer = next((line.strip() for line in reversed(lines) if line.strip()), "")
    stated = footer.removeprefix("# END (").removesuffix(") entries")
    if not footer.startswith("# END (") or not stated.isdigit():
        raise DownloadRejected("no '# END (N) entries' footer: the body is incomplete")
    rows = sum(1 for line in lines if line.strip() and not line.startswith("#"))
    if int(stated) != rows:
        raise DownloadRejected(f"the footer states {stated} entries but the body has {rows}")
    return f"{len(index.entries)} listed SHA-1s"


def validate_catalogue(text: str) -> str:
    try:
        catalogue = parse_catalogue(text, "download")
    except CatalogueError as exc:
        raise DownloadRejected(str(exc)) from exc
    return f"{len(catalogue.entries)} entries, {len(catalogue.families)} families"


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError)


async def _fetch(client: httpx.AsyncClient, url: str, limit: int) -> str:
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        if response.url.scheme != "https":
            raise DownloadRejected(f"redirected to {response.url.scheme}://, not https")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > limit:
                raise DownloadRejected(f"larger than {limit} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DownloadRejected(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


async def _download(client: httpx.AsyncClient, url: str, limit: int) -> str:
    retrying = AsyncRetrying(
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential(multiplier=0.5, max=8),
        retry=retry_if_exception(_transient),
        reraise=True,
    )
    return await retrying(_fetch, client, url, limit)


async def _update_one(
    client: httpx.AsyncClient,
    name: Literal["sslbl", "catalogue"],
    url: str | None,
    target: Path,
    configured: Path | None,
) -> UpdateResult:
    if url is None:
        return UpdateResult(name=name, url=None, path=str(target), outcome="skipped", detail="no URL configured")
    validate, limit = (
        (validate_sslbl, MAX_SSLBL_BYTES) if name == "sslbl" else (validate_catalogue, MAX_CATALOGUE_BYTES)
    )
    try:
        text = await _download(client, url, limit)
        detail = validate(text)
    except DownloadRejected as exc:
        return UpdateResult(name=name, url=url, path=str(target), outcome="kept", detail=f"download rejected: {exc}")
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        return UpdateResult(name=name, url=url, path=str(target), outcome="kept", detail=f"HTTP {status}")
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return UpdateResult(name=name, url=url, path=str(target), outcome="kept", detail=f"unreachable ({reason})")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, text)
    if configured is not None:
        detail += f"; not in force: the config names {configured}"
    return UpdateResult(name=name, url=url, path=str(target), outcome="updated", detail=detail)


async def update_intel(config: Config) -> list[UpdateResult]:
    """Refresh the SSLBL blacklist and the tool catalogue into ``<state_dir>/intel/`` (never the package)."""
    folder = config.state_dir / INTEL_DIR
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True) as client:
        return [
            await _update_one(client, "sslbl", config.intel.sslbl_url, folder / SSLBL_FILE, config.intel.sslbl),
            await _update_one(
                client, "catalogue", config.intel.catalogue_url, folder / CATALOGUE_FILE, config.intel.catalogue
            ),
        ]
