"""manifest.json: what a SOAR needs to import certsoar, generated from the code."""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

from certsoar.connectors import KINDS
from certsoar.playbook import load_playbook, shipped_playbooks
from certsoar.registry import actions, connector_types

SECRET_HINT = "secret"


def _settings_schema(model: Any) -> dict[str, Any]:
    schema = model.model_json_schema()
    for name, prop in schema.get("properties", {}).items():
        field = model.model_fields.get(name)
        extra = (field.json_schema_extra if field else None) or {}
        if isinstance(extra, dict) and extra.get(SECRET_HINT):
            prop["secret"] = True
        elif prop.get("format") == "password" or name in ("passphrase", "password", "token", "api_key"):
            prop["secret"] = True
    return schema


def build_manifest() -> dict[str, Any]:
    return {
        "name": "certsoar",
        "version": version("certsoar"),
        "description": "Triage, escalation and verified containment of adversary-built certificates (MITRE ATT&CK T1587.003).",
        "actions": [
            {
                "name": spec.name,
                "description": spec.description,
                "mutates": spec.mutates,
                "reversible": spec.reversible,
                "needs_approval": spec.needs_approval,
                "input_schema": spec.input_model.model_json_schema(),
                "output_schema": spec.output_model.model_json_schema(),
            }
            for spec in actions().values()
        ],
        "connectors": {
            kind: [
                {
                    "type": name,
                    "class": f"{cls.__module__}.{cls.__qualname__}",
                    "settings_schema": _settings_schema(cls.settings_model),
                }
                for name, cls in connector_types(kind).items()
            ]
            for kind in KINDS
        },
        "playbooks": [
            {
                "id": pb.id,
                "description": pb.description.strip(),
                "trigger": pb.trigger.model_dump(exclude_none=True),
                "file": path.name,
            }
            for path in shipped_playbooks()
            for pb in [load_playbook(path)]
        ],
        "service": _service_endpoints(),
    }


def _service_endpoints() -> list[dict[str, str | None]]:
    """`certsoar serve`'s endpoints, read from the app's routes (scope: the token scope each needs)."""
    from certsoar.config import Config
    from certsoar.service.app import create_app, endpoints

    return endpoints(create_app(Config()))


def render_manifest(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=False) + "\n"
