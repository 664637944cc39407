"""The one error hierarchy of certsoar.

Errors are raised where the problem is found and turned into a run outcome or an exit
code only at the edge (the runner and the CLI). Every class carries its exit code by type
(``exit_code``: 1 something failed or was refused, 2 usage, configuration or input)::

    CertsoarError               (1)
    ├── ConfigError             (2) bad or missing configuration
    │   ├── SslblError          (2) the configured SSLBL file cannot be read
    │   ├── CrlError            (2) a CRL file that cannot be read or is not a CRL
    │   └── RegistryError       (2) an action or connector that is unknown or declared twice
    ├── PlaybookError           (1) a playbook that does not load or validate (file, line, message)
    │   └── PlaybookNotFound    (2) no shipped playbook and no file by that name
    ├── ExpressionError         (1) a playbook expression that does not compile or evaluate
    ├── AlertError              (2) an alert that cannot be normalized (names the field)
    │   └── AlertTooLarge       (2) an alert body over the service's limit
    ├── ApprovalError           (1) a decision that is refused (quorum, state, expiry)
    │   └── ApprovalForbidden   (1) this analyst may not decide this gate (role, own run, unknown)
    ├── RunError                (2) a run that does not exist or cannot be resumed
    │   ├── RunNotFound         (2) no run by that id
    │   └── RunBusy             (2) another live executor holds the run's lease
    ├── TicketNotFound          (2) no ticket by that id in the configured ticket store
    ├── AccessError             (2) a service request without a valid credential
    │   ├── ScopeError          (2) a valid credential without the scope the request needs
    │   └── RateLimited         (2) too many refused attempts from one address
    ├── QueueFull               (1) the service's run queue is full (try again later)
    ├── SignatureError          (1) a signed request (Slack's) whose signature does not hold
    ├── AuditError              (1) the audit log's hash chain does not verify
    ├── ExportError             (2) a SOAR export that cannot be written (unknown platform, folder in use)
    ├── ActionError             (1) a step that failed for a reason of its own
    └── ConnectorError          (1) a connector call that failed
        ├── ConnectorUnavailable    transport error, timeout, 429, 5xx: worth a retry
        └── ConnectorRejected       the other side said no: never retried
            └── CannotEnumerate     the product cannot list what a CA issued (a sweep notes it, goes on)
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

EXIT_FAILED = 1
EXIT_USAGE = 2


class CertsoarError(Exception):
    """Base of every error certsoar raises on purpose."""

    exit_code: ClassVar[int] = EXIT_FAILED


class ConfigError(CertsoarError):
    exit_code = EXIT_USAGE


class SslblError(ConfigError):
    """The configured SSLBL file cannot be read (the analysis reports it as a note and goes on)."""


class RegistryError(ConfigError):
    """An action or connector name that nothing installed provides, or that two plugins claim."""


class CrlError(ConfigError):
    """A CRL file (configured in trust.crls, or the managed CA's) is not a PEM or DER CRL."""


class PlaybookError(CertsoarError):
    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.file or "<playbook>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}"


class PlaybookNotFound(PlaybookError):
    """The name is neither a shipped playbook nor a file: a usage error, not a broken playbook."""

    exit_code = EXIT_USAGE


class ExpressionError(CertsoarError):
    """A ``{{ expression }}`` in a playbook that does not compile or evaluate."""


class AlertError(CertsoarError):
    exit_code = EXIT_USAGE


class AlertTooLarge(AlertError):
    """An alert body larger than the limit (``service.max_alert_bytes``); refused before it is read whole."""


class ApprovalError(CertsoarError):
    pass


class ApprovalForbidden(ApprovalError):
    """The analyst may not decide this gate: not an analyst, without the role, or the run's requester."""


class RunError(CertsoarError):
    exit_code = EXIT_USAGE


class RunNotFound(RunError):
    """No run has this id."""


class RunBusy(RunError):
    """Another executor holds the run's lease: it is being executed elsewhere."""


class TicketNotFound(CertsoarError):
    """No ticket has this id (or the configured ticket connector cannot list its tickets)."""

    exit_code = EXIT_USAGE


class SignatureError(CertsoarError):
    """A signed request (Slack's) whose signature is missing, wrong, stale, from the future or replayed."""


class AccessError(CertsoarError):
    """A request to the service without a valid credential (no token, an unknown token)."""

    exit_code = EXIT_USAGE


class ScopeError(AccessError):
    """The credential is valid but lacks the scope the request needs."""


class RateLimited(AccessError):
    """Too many refused attempts from one client address; ``retry_after`` seconds until it may try again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class QueueFull(CertsoarError):
    """The service's queue of accepted runs is full; ``retry_after`` seconds is a fair wait."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class AuditError(CertsoarError):
    pass


class ExportError(CertsoarError):
    exit_code = EXIT_USAGE


class ActionError(CertsoarError):
    pass


class ConnectorError(CertsoarError):
    def __init__(self, message: str, *, connector: str = "") -> None:
        self.connector = connector
        super().__init__(f"{connector}: {message}" if connector else message)


class ConnectorUnavailable(ConnectorError):
    """Transient: the call may succeed if tried again."""


class ConnectorRejected(ConnectorError):
    """Final: the connector refused the request."""


class CannotEnumerate(ConnectorRejected):
    """The product offers no way to list what a CA issued (a sweep reports the CA and goes on)."""
