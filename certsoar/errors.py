"""The one error hierarchy of certsoar.

Errors are raised where the problem is found and turned into a run outcome or an exit
code only at the edge (the runner and the CLI)::

    CertsoarError
    ├── ConfigError          bad or missing configuration (exit 2)
    ├── PlaybookError        a playbook that does not load or validate (file, line, message)
    ├── AlertError           an alert that cannot be normalized (names the field)
    ├── ApprovalError        a decision that is refused (role, quorum, state, expiry)
    ├── RunError             a run that does not exist or cannot be resumed
    │   └── RunBusy          another live executor holds the run's lease
    ├── AuditError           the audit log's hash chain does not verify
    ├── ActionError          a step that failed for a reason of its own
    └── ConnectorError       a connector call that failed
        ├── ConnectorUnavailable   transport error, timeout, 429, 5xx: worth a retry
        └── ConnectorRejected      the other side said no: never retried
"""

from __future__ import annotations

from pathlib import Path


class CertsoarError(Exception):
    """Base of every error certsoar raises on purpose."""


class ConfigError(CertsoarError):
    pass


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


class AlertError(CertsoarError):
    pass


class ApprovalError(CertsoarError):
    pass


class RunError(CertsoarError):
    pass


class RunBusy(RunError):
    """Another executor holds the run's lease: it is being executed elsewhere."""


class AuditError(CertsoarError):
    pass


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
