"""The connectors of one configuration, built on first use (``ctx.connectors.ca``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from certsoar.blocking import BlockingPolicy
from certsoar.config import Config, ConnectorSection, format_validation_error, secret_from
from certsoar.errors import ConfigError
from certsoar.proc import withhold_from_tools
from certsoar.registry import connector_class

if TYPE_CHECKING:
    from certsoar.connectors.ca import CertificateAuthority
    from certsoar.connectors.firewall import Firewall
    from certsoar.connectors.notify import Notifier
    from certsoar.connectors.proxy import Proxy
    from certsoar.connectors.siem import Siem
    from certsoar.connectors.ticket import Ticketing
    from certsoar.store import RunStore


def connector_settings(kind: str, section: ConnectorSection) -> Any:
    """The section's settings, validated by the model of the type it names; ConfigError naming the section."""
    cls = connector_class(kind, section.type)
    try:
        return cls.settings_model.model_validate(section.settings())
    except ValidationError as exc:
        raise ConfigError(f"connectors.{kind} ({section.type}): {format_validation_error(exc)}") from exc


def check_sections(config: Config) -> None:
    """Every connector section's settings, as the config loads (``load_config``): a mistake in one is found
    by every command, not only by those that build that connector."""
    for kind in ("siem", "ca", "firewall", "proxy", "ticket"):
        section = getattr(config.connectors, kind)
        if section is not None:
            connector_settings(kind, section)
    for section in config.connectors.notify:
        connector_settings("notify", section)


def build_connector(kind: str, section: ConnectorSection, config: Config, store: "RunStore | None") -> Any:
    from certsoar.connectors import ConnectorEnv

    cls = connector_class(kind, section.type)
    settings = connector_settings(kind, section)
    env = ConnectorEnv(
        name=section.instance,
        state_dir=config.state_dir,
        store=store,
        config_dir=config.config_dir,
        blocking=BlockingPolicy.from_config(config),
        public_url=config.service.public_url,
    )
    return cls(settings, env)


def secret_references(config: Config) -> list[str]:
    """Every ``env:NAME`` and ``file:PATH`` secret reference in the configuration: the connector sections,
    the audit key, the service's secrets (a value written so is a secret reference, whatever its key)."""
    sections = [getattr(config.connectors, kind) for kind in ("siem", "ca", "firewall", "proxy", "ticket")]
    sections += list(config.connectors.notify or [])
    found: list[str] = []

    def scan(value: Any) -> None:
        if isinstance(value, str) and value.startswith(("env:", "file:")):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                scan(item)
        elif isinstance(value, list):
            for item in value:
                scan(item)

    for section in sections:
        if isinstance(section, ConnectorSection):
            scan(section.settings())
    scan(config.model_dump(mode="json", exclude={"connectors"}))
    return found


def _secret_variables(config: Config) -> list[str]:
    """The NAME of every ``env:NAME`` secret reference in the configuration."""
    return [ref.removeprefix("env:") for ref in secret_references(config) if ref.startswith("env:")]


def secret_values(config: Config) -> list[str]:
    """The secrets the configuration references, resolved; one that cannot be read is left out (the
    connector that needs it reports that)."""
    values = []
    for ref in secret_references(config):
        try:
            values.append(secret_from(ref))
        except ConfigError:
            continue
    return values


class Connections:
    """Owns the connectors of one configuration for one process: each kind is built from its config
    section on first use (``ctx.connectors.ca``) and shared by every step after that.

    Guarantees: only the configured type of each kind is built, its settings validated by the type's
    model (ConfigError naming the section otherwise); ``validate`` builds all of them before a run
    starts, so a bad section fails before anything is written; tests pass ``overrides`` instead.
    """

    def __init__(
        self, config: Config, store: "RunStore | None" = None, overrides: dict[str, Any] | None = None
    ) -> None:
        self._config = config
        self._store = store
        self._built: dict[str, Any] = dict(overrides or {})
        withhold_from_tools(*_secret_variables(config))

    def has(self, kind: str) -> bool:
        if kind in self._built:
            return True
        section = getattr(self._config.connectors, kind)
        return bool(section)

    def instance(self, kind: str) -> str:
        """Instance name of the configured connector of ``kind`` (for effect keys)."""
        section = getattr(self._config.connectors, kind, None)
        if isinstance(section, ConnectorSection):
            return section.instance
        obj = self._built.get(kind)
        return getattr(obj, "instance", kind)

    def _get(self, kind: str) -> Any:
        if kind not in self._built:
            section = getattr(self._config.connectors, kind)
            if section is None:
                raise ConfigError(f"connectors.{kind}: not configured")
            self._built[kind] = build_connector(kind, section, self._config, self._store)
        return self._built[kind]

    def validate(self) -> None:
        """Build every configured connector now, so a bad section fails before the run starts."""
        for kind in ("siem", "ca", "firewall", "proxy", "ticket"):
            if self.has(kind):
                self._get(kind)
        _ = self.notify

    @property
    def siem(self) -> "Siem":
        return self._get("siem")

    @property
    def ca(self) -> "CertificateAuthority":
        return self._get("ca")

    @property
    def firewall(self) -> "Firewall":
        return self._get("firewall")

    @property
    def proxy(self) -> "Proxy":
        return self._get("proxy")

    @property
    def ticket(self) -> "Ticketing":
        return self._get("ticket")

    @property
    def notify(self) -> list[tuple[str, "Notifier"]]:
        """(instance name, notifier) for every configured notification channel."""
        if "notify" not in self._built:
            self._built["notify"] = [
                (s.instance, build_connector("notify", s, self._config, self._store))
                for s in self._config.connectors.notify
            ]
        return self._built["notify"]
