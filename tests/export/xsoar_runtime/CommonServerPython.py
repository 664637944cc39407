"""The part of XSOAR's CommonServerPython the CertSOAR integration uses, with XSOAR's names, signatures and
entry formats (``BaseClient._http_request`` on requests with urllib3 retries, ``CommandResults``,
``return_results``, ``return_error``'s error entry and exit, ``tableToMarkdown``, ``arg_to_number``,
``argToBoolean``).

Written for certsoar's tests from XSOAR's published documentation: the content repository's own
CommonServerPython.py is not on any package registry this project installs from. It runs the exported
integration outside XSOAR the way XSOAR runs it: its results become entries through demistomock."""

import sys
from typing import Any

import demistomock as demisto
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

entryTypes = {"note": 1, "error": 4}  # noqa: N816 (XSOAR's name)
formats = {"json": "json", "text": "text", "markdown": "markdown"}


class DemistoException(Exception):
    def __init__(self, message: str, exception: Exception | None = None, res: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.exception = exception
        self.res = res


class BaseClient:
    def __init__(
        self,
        base_url: str,
        verify: bool = True,
        proxy: bool = False,
        ok_codes: tuple[int, ...] = (),
        headers: dict[str, str] | None = None,
        auth: Any = None,
        timeout: float = 60,
    ) -> None:
        self._base_url = base_url
        self._verify = verify
        self._ok_codes = ok_codes
        self._headers = headers or {}
        self._auth = auth
        self.timeout = timeout
        self._session = requests.Session()
        self._session.trust_env = proxy  # without proxy, no proxy from the environment either

    def _http_request(
        self,
        method: str,
        url_suffix: str = "",
        full_url: str | None = None,
        headers: dict[str, str] | None = None,
        auth: Any = None,
        json_data: Any = None,
        params: dict[str, Any] | None = None,
        data: Any = None,
        timeout: float | None = None,
        resp_type: str = "json",
        ok_codes: tuple[int, ...] | None = None,
        retries: int = 0,
        status_list_to_retry: list[int] | None = None,
        backoff_factor: float = 5,
        error_handler: Any = None,
    ) -> Any:
        if retries:
            retry = Retry(
                total=retries,
                status_forcelist=status_list_to_retry or [],
                backoff_factor=backoff_factor,
                allowed_methods=frozenset(["GET"]),
                raise_on_status=False,
            )
            self._session.mount("http://", HTTPAdapter(max_retries=retry))
            self._session.mount("https://", HTTPAdapter(max_retries=retry))
        try:
            res = self._session.request(
                method,
                full_url or self._base_url + url_suffix,
                headers=headers if headers is not None else self._headers,
                auth=auth or self._auth,
                json=json_data,
                params=params,
                data=data,
                verify=self._verify,
                timeout=timeout or self.timeout,
            )
        except requests.exceptions.ConnectionError as exc:
            raise DemistoException(f"Verify that the server URL parameter is correct: {exc}") from exc
        if not self._is_status_code_valid(res, ok_codes or self._ok_codes):
            if error_handler:
                error_handler(res)
            raise DemistoException(f"Error in API call [{res.status_code}] - {res.reason}\n{res.text}", res=res)
        if resp_type == "json":
            return res.json()
        if resp_type == "text":
            return res.text
        return res

    @staticmethod
    def _is_status_code_valid(res: requests.Response, ok_codes: tuple[int, ...]) -> bool:
        return res.status_code in ok_codes if ok_codes else res.ok


class CommandResults:
    def __init__(
        self,
        outputs_prefix: str | None = None,
        outputs_key_field: str | None = None,
        outputs: Any = None,
        readable_output: str | None = None,
        raw_response: Any = None,
    ) -> None:
        self.outputs_prefix = outputs_prefix
        self.outputs_key_field = outputs_key_field
        self.outputs = outputs
        self.readable_output = readable_output
        self.raw_response = raw_response

    def to_context(self) -> dict[str, Any]:
        context = {}
        if self.outputs_prefix and self.outputs is not None:
            key = self.outputs_key_field
            path = f"{self.outputs_prefix}(val.{key} && val.{key} == obj.{key})" if key else self.outputs_prefix
            context[path] = self.outputs
        return {
            "Type": entryTypes["note"],
            "ContentsFormat": formats["json"],
            "Contents": self.raw_response,
            "HumanReadable": self.readable_output,
            "EntryContext": context,
        }


def return_results(results: Any) -> None:
    if isinstance(results, CommandResults):
        demisto.results(results.to_context())
    else:
        demisto.results(results)


def return_error(message: str, error: Any = "", outputs: Any = None) -> None:
    demisto.error(message)
    demisto.results({"Type": entryTypes["error"], "ContentsFormat": formats["text"], "Contents": message})
    sys.exit(0)


def argToBoolean(value: Any) -> bool:  # noqa: N802 (XSOAR's name)
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "yes"):
        return True
    if str(value).lower() in ("false", "no"):
        return False
    raise ValueError(f"Argument does not contain a valid boolean-like value: {value}")


def arg_to_number(arg: Any, arg_name: str | None = None, required: bool = False) -> int | None:
    if arg in (None, ""):
        if required:
            raise ValueError(f"Missing '{arg_name}'")
        return None
    if isinstance(arg, str) and arg.isdigit():
        return int(arg)
    if isinstance(arg, int):
        return arg
    raise ValueError(f'Invalid number: "{arg_name}"="{arg}"')


def tableToMarkdown(  # noqa: N802 (XSOAR's name)
    name: str,
    t: Any,
    headers: list[str] | None = None,
    removeNull: bool = False,  # noqa: N803
) -> str:
    rows = [t] if isinstance(t, dict) else list(t or [])
    headers = headers or sorted({k for row in rows for k in row})
    if removeNull:
        headers = [h for h in headers if any(row.get(h) not in (None, "") for row in rows)]
    if not rows:
        return f"### {name}\n**No entries.**\n"
    lines = [f"### {name}", "|" + "|".join(headers) + "|", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["|" + "|".join("" if row.get(h) is None else str(row.get(h)) for h in headers) + "|" for row in rows]
    return "\n".join(lines) + "\n"
