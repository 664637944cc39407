"""The connectors of one configuration, built on first use (``ctx.connectors.ca``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from certsoar.blocking import BlockingPolicy
from certsoar.config import INSTANCE_KINDS, Config, ConnectorSection, format_validation_error, secret_from
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


DEFAULT_SEARCH_TIMEOUT = 300.0
"""Seconds one search of one SIEM may take unless its section sets ``search_timeout``."""


def connector_settings(kind: str, section: ConnectorSection) -> Any:
    """The section's settings, validated by the model of the type it names; ConfigError naming the section."""
    cls = connector_class(kind, section.type)
    try:
        return cls.settings_model.model_validate(section.settings())
    except ValidationError as exc:
        named = f" {section.name}" if section.name and section.name != section.type else ""
        where = f"connectors.{kind}{named} ({section.type})"
        raise ConfigError(f"{where}: {format_validation_error(exc)}") from exc


def check_sections(config: Config) -> None:
    """Every connector section's settings, as the config loads (``load_config``): a mistake in one is found
    by every command, not only by those that build that connector."""
    for kind in (*INSTANCE_KINDS, "notify"):
        for section in config.connectors.sections(kind):
            connector_settings(kind, section)


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
    sections = [section for kind in (*INSTANCE_KINDS, "notify") for section in config.connectors.sections(kind)]
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
    """Owns the connectors of one configuration for one process: each instance is built from its config
    section on first use (``ctx.connectors.ca``) and shared by every step after that.

    Guarantees: only the configured types are built, their settings validated by the type's model (ConfigError
    naming the section otherwise); ``validate`` builds all of them before a run starts, so a bad section fails
    before anything is written. Several instances of a kind are told apart by their ``name``: ``each(kind)``
    gives all of them, ``siem`` searches every SIEM (certsoar.fanout), the CA that issued a certificate is found
    by certsoar.routing. Tests pass ``overrides``: a connector per kind, or ``{instance: connector}``.
    """

    def __init__(
        self, config: Config, store: "RunStore | None" = None, overrides: dict[str, Any] | None = None
    ) -> None:
        self._config = config
        self._store = store
        self._built: dict[tuple[str, str], Any] = {}
        self._notify: list[tuple[str, "Notifier"]] | None = None
        self._overridden: dict[str, list[str]] = {}
        for kind, value in (overrides or {}).items():
            if kind == "notify":
                self._notify = list(value)
                continue
            named = value if isinstance(value, dict) else {self._single_name(kind, value): value}
            self._overridden[kind] = list(named)
            self._built.update({(kind, name): connector for name, connector in named.items()})
        withhold_from_tools(*_secret_variables(config))

    def _single_name(self, kind: str, connector: Any) -> str:
        sections = self._config.connectors.sections(kind)
        if len(sections) == 1:
            return sections[0].instance
        return str(getattr(connector, "instance", kind))

    def has(self, kind: str) -> bool:
        return bool(self.instances(kind))

    def instances(self, kind: str) -> list[str]:
        """Instance names of ``kind``, in config order."""
        if kind in self._overridden:
            return list(self._overridden[kind])
        return [section.instance for section in self._config.connectors.sections(kind)]

    def instance(self, kind: str) -> str:
        """Instance name of the one connector of ``kind`` (for effect keys); ConfigError when several are configured
        (an action that addresses one of several names it: ``connector(kind, instance)``)."""
        names = self.instances(kind)
        if len(names) == 1:
            return names[0]
        if not names:
            raise ConfigError(f"connectors.{kind}: not configured")
        raise ConfigError(f"connectors.{kind}: {len(names)} instances ({', '.join(names)}); name the one meant")

    def connector(self, kind: str, instance: str) -> Any:
        """The connector of ``kind`` named ``instance``, built on first use."""
        if (kind, instance) not in self._built:
            if kind in self._overridden:
                raise ConfigError(f"connectors.{kind}: no instance named {instance!r}")
            section = self._config.connectors.section(kind, instance)
            self._built[(kind, instance)] = build_connector(kind, section, self._config, self._store)
        return self._built[(kind, instance)]

    def each(self, kind: str) -> list[tuple[str, Any]]:
        """(instance name, connector) of every configured connector of ``kind``, in config order."""
        return [(name, self.connector(kind, name)) for name in self.instances(kind)]

    def _one(self, kind: str) -> Any:
        return self.connector(kind, self.instance(kind))

    def validate(self) -> None:
        """Build every configured connector now, so a bad section fails before the run starts."""
        for kind in INSTANCE_KINDS:
            self.each(kind)
        _ = self.notify

    @property
    def siem(self) -> "Siem":
        """Every configured SIEM as one: searches fan out over all of them (certsoar.fanout)."""
        from certsoar.fanout import SiemFanOut

        if not self.has("siem"):
            raise ConfigError("connectors.siem: not configured")
        return SiemFanOut([(name, siem, self.search_timeout(name)) for name, siem in self.each("siem")])

    def search_timeout(self, instance: str) -> float:
        """Seconds one search of SIEM ``instance`` may take (``search_timeout``, default 5 minutes)."""
        from certsoar.timeparse import parse_duration

        sections = [s for s in self._config.connectors.sections("siem") if s.instance == instance]
        chosen = sections[0].search_timeout if sections else None
        return parse_duration(chosen).total_seconds() if chosen else DEFAULT_SEARCH_TIMEOUT

    @property
    def ca(self) -> "CertificateAuthority":
        """The one configured CA (with several, certsoar.routing finds the one that issued a certificate)."""
        return self._one("ca")

    @property
    def firewall(self) -> "Firewall":
        return self._one("firewall")

    @property
    def proxy(self) -> "Proxy":
        return self._one("proxy")

    @property
    def ticket(self) -> "Ticketing":
        return self._one("ticket")

    @property
    def notify(self) -> list[tuple[str, "Notifier"]]:
        """(instance name, notifier) for every configured notification channel."""
        if self._notify is None:
            self._notify = [
                (s.instance, build_connector("notify", s, self._config, self._store))
                for s in self._config.connectors.notify
            ]
        return self._notify
