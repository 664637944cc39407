"""One POST to a messaging endpoint whose URL may be a secret (Slack, Teams, a generic webhook), and the retry
loop every notifier's delivery runs in (``retried``; email's SMTP uses it too).

Not ``connectors/http.py``: that layer puts the request path in its errors, and these URLs carry their
credential in the path or the query. Here no error and no log line names the URL or a header.
Transport errors, timeouts, 429, 5xx and a throttling answer in a 2xx body are tried again up to
``attempts`` times, waiting Retry-After (bounded) or 0.5 s doubling up to 8 s. A repeat can show a message
twice at worst, which beats losing it; receivers that care deduplicate on the delivery key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import httpx
from pydantic import Field
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from certsoar.connectors import ConnectorSettings
from certsoar.connectors.http import RetryLater, retry_after, retry_wait
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

TIMEOUT = 10.0
LONGEST_RETRY_AFTER = 60.0
ANSWER_CHARS = 200
T = TypeVar("T")


class DeliverySettings(ConnectorSettings):
    """What the settings of every notifier that posts through ``post`` share."""

    timeout: float = Field(default=TIMEOUT, gt=0, le=120, description="Seconds to wait for the answer.")
    attempts: int = Field(default=4, ge=1, le=10, description="Tries per message (transport errors, 429, 5xx).")


class _HideSecretUrls(logging.Filter):
    """httpx logs each request's URL at INFO; these URLs are credentials, so they are logged as host only."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.urls and isinstance(record.args, tuple):
            record.args = tuple(_hidden(a) if str(a) in self.urls else a for a in record.args)
        return True


def _hidden(url: object) -> str:
    parsed = httpx.URL(str(url))
    return f"{parsed.scheme}://{parsed.host}/***"


_secret_urls = _HideSecretUrls()
logging.getLogger("httpx").addFilter(_secret_urls)


def _wait(state: RetryCallState) -> float:
    return retry_wait(state, longest_retry_after=LONGEST_RETRY_AFTER, backoff=0.5, longest_backoff=8.0)


def _never(response: httpx.Response) -> bool:
    return False


def _refusal(vendor: str, response: httpx.Response, connector: str) -> ConnectorRejected:
    status = response.status_code
    answer = f" {response.text[:ANSWER_CHARS]!r}" if response.text.strip() else ""
    if status == 401:
        why = "authentication failed, the credentials were refused"
    elif status == 403:
        why = "not authorized"
    else:
        why = "refused the message"
    return ConnectorRejected(f"{vendor}: {why} (HTTP {status}){answer}", connector=connector)


async def post(
    url: str,
    content: bytes,
    *,
    vendor: str,
    connector: str,
    attempts: int = 4,
    timeout: float = TIMEOUT,
    headers: Callable[[], Mapping[str, str]] = dict,
    throttled: Callable[[httpx.Response], bool] = _never,
) -> httpx.Response:
    """POST ``content`` (JSON) to ``url``, TLS verified, no redirects; ``headers`` is called before every
    attempt (a signature made fresh each time). Returns the 2xx response. ConnectorUnavailable when the
    attempts run out, ConnectorRejected on another 4xx."""

    _secret_urls.urls.add(str(httpx.URL(url)))

    async def once(client: httpx.AsyncClient) -> httpx.Response:
        sent = {"Content-Type": "application/json", **headers()}
        try:
            response = await client.post(url, content=content, headers=sent)
        except httpx.TimeoutException as exc:
            raise RetryLater(
                f"{vendor} did not answer within {timeout:g}s ({type(exc).__name__})",
                connector=connector,
                retry_after=None,
            ) from None
        except httpx.TransportError as exc:
            raise RetryLater(
                f"cannot reach {vendor} ({type(exc).__name__})", connector=connector, retry_after=None
            ) from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise RetryLater(f"{vendor} answered HTTP {status}", connector=connector, retry_after=retry_after(response))
        if status >= 300:
            raise _refusal(vendor, response, connector)
        if throttled(response):
            raise RetryLater(
                f"{vendor} throttled the message (HTTP {status} {response.text[:ANSWER_CHARS]!r})",
                connector=connector,
                retry_after=retry_after(response),
            )
        return response

    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), verify=True, follow_redirects=False
    ) as client:
        return await retried(lambda: once(client), attempts=attempts, connector=connector)


async def retried(attempt: Callable[[], Awaitable[T]], *, attempts: int, connector: str) -> T:
    """``attempt()`` tried again on RetryLater, up to ``attempts`` times in all (Retry-After or a doubling
    wait between); ConnectorUnavailable when they run out. Any other error ends it at once."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(RetryLater), stop=stop_after_attempt(attempts), wait=_wait, reraise=True
    )

    async def call() -> T:  # a coroutine function, which tenacity awaits (it would return a lambda's coroutine)
        return await attempt()

    try:
        return await retrying(call)
    except RetryLater as exc:
        raise ConnectorUnavailable(
            f"{exc.args[0].removeprefix(f'{connector}: ')} (gave up after {attempts} attempts)", connector=connector
        ) from None
