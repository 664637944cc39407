"""``certsoar export stackstorm DIR``: the StackStorm pack ``certsoar`` (DIR/certsoar/).

pack.yaml, config.schema.yaml (with an example config), one Python-runner action per service operation
(actions/<name>.yaml + actions/<name>.py on st2common's ``Action``, sharing actions/lib/certsoar_client.py),
the Orquesta workflow ``certsoar.triage`` that submits an alert, waits for the verdict and pauses on a
``core.ask`` inquiry whose answer becomes the approval, and a README. Every description is the manifest's.

Identity: StackStorm keeps only an inquiry's response, not who gave it, so the workflow names the one
StackStorm user who may answer (``approver``) and the pack config maps that user to the analyst's own
certsoar token (``analysts``); certsoar then records, role-checks and four-eyes-checks the decision as
that analyst's, exactly as for a decision made on the CLI or the approval page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from certsoar.export.soar import RUN_FIELDS, Operation, markdown_cell, markdown_table, operations
from certsoar.intake import FORMATS
from certsoar.store import RunStatus

PACK = "certsoar"
RUNNER = "python-script"
CLIENT_MODULE = "certsoar_client"

_JSON_TYPES = {"string": "string", "date": "string", "boolean": "boolean"}


@dataclass(frozen=True)
class _ActionShape:
    """What an operation's action takes and how its Python calls the service."""

    parameters: dict[str, dict[str, Any]]
    token: str  # Python expression giving the bearer token
    call_args: str = ""  # extra keyword arguments of self.call(...)
    result: str = "answer"  # Python expression of the result on success
    output: dict[str, Any] = field(default_factory=dict)


_RUN_ID = {"type": "string", "required": True, "description": "The certsoar run's id."}
_ANALYST = {
    "type": "string",
    "required": True,
    "description": "The StackStorm user who decides. The pack config's analysts maps that user to the analyst's "
    "own certsoar token (scope decide), so certsoar records and checks the decision as that analyst's.",
}


def _shapes() -> dict[str, _ActionShape]:
    run_object = _run_output_schema()
    decision = {
        "type": "object",
        "description": "The service's answer to the decision.",
        "additionalProperties": True,
    }
    decide = _ActionShape(
        parameters={
            "run_id": _RUN_ID,
            "analyst": _ANALYST,
            "comment": {"type": "string", "description": "Why; kept in the run and the audit."},
        },
        token="self.analyst_token(analyst)",
        call_args=', body={"comment": comment}',
        output=decision,
    )
    return {
        "test_connectivity": _ActionShape(
            parameters={},
            token="self.service_token()",
            call_args=', params={"limit": 1}',
            result='{"connected": True}',
            output={"type": "object", "properties": {"connected": {"type": "boolean"}}},
        ),
        "submit_alert": _ActionShape(
            parameters={
                "alert": {
                    "type": "string",
                    "required": True,
                    "description": "The alert as its source wrote it (JSON, Zeek TSV, Windows event XML, PEM).",
                },
                "format": {
                    "type": "string",
                    "enum": list(FORMATS),
                    "description": "The alert's format; certsoar detects it when this is left out.",
                },
                "playbook": {
                    "type": "string",
                    "default": "certificate-alert",
                    "description": "A shipped playbook's id.",
                },
                "content_type": {
                    "type": "string",
                    "default": "application/json",
                    "description": "The alert's media type (application/json, text/plain, application/x-pem-file, ...).",
                },
            },
            token="self.service_token()",
            call_args=', params={"format": format, "playbook": playbook}, body=alert.encode("utf-8"), '
            "content_type=content_type",
            output={
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "The run's id."},
                    "status": {"type": "string", "description": "The run's status (queued until a worker starts it)."},
                },
            },
        ),
        "get_run": _ActionShape(parameters={"run_id": _RUN_ID}, token="self.service_token()", output=run_object),
        "list_runs": _ActionShape(
            parameters={
                "status": {
                    "type": "string",
                    "enum": [str(s) for s in RunStatus],
                    "description": "Only runs in this status.",
                },
                "since": {"type": "string", "description": "Only runs created at or after this time (ISO 8601)."},
                "limit": {"type": "integer", "default": 100, "minimum": 1, "maximum": 1000},
            },
            token="self.service_token()",
            call_args=', params={"status": status, "since": since, "limit": limit}',
            result='{"runs": answer}',
            output={"type": "object", "properties": {"runs": {"type": "array", "items": run_object}}},
        ),
        "approve": decide,
        "deny": decide,
        "release": _ActionShape(
            parameters={
                "run_id": _RUN_ID,
                "analyst": _ANALYST,
                "comment": {"type": "string", "required": True, "description": "Why the containment is taken back."},
            },
            token="self.analyst_token(analyst)",
            call_args=', body={"comment": comment}',
            output=decision,
        ),
    }


def _run_output_schema() -> dict[str, Any]:
    """The run object as a JSON schema, built from the shared run fields (dotted paths nest)."""
    root: dict[str, Any] = {"type": "object", "properties": {}}
    for run_field in RUN_FIELDS:
        node = root
        *parents, leaf = run_field.path.split(".")
        for part in parents:
            node = node["properties"].setdefault(part, {"type": "object", "properties": {}})
        prop: dict[str, Any] = {"description": run_field.description}
        if run_field.type in _JSON_TYPES:
            prop["type"] = _JSON_TYPES[run_field.type]
        node["properties"][leaf] = prop
    return root


def _class_name(op: str) -> str:
    return "".join(part.capitalize() for part in op.split("_"))


def _python(op: Operation, shape: _ActionShape) -> str:
    args = "".join(
        f", {name}" + ("" if spec.get("required") else f"={spec.get('default')!r}")
        for name, spec in shape.parameters.items()
    )
    path = repr(op.path)
    if "{run_id}" in op.path:
        path = f'{op.path.replace("{run_id}", "%s")!r} % quote(run_id, safe="")'
    return (
        f'"""{op.description}"""\n\n'
        + ("from urllib.parse import quote\n\n" if "{run_id}" in op.path else "")
        + f"from {CLIENT_MODULE} import CertsoarAction\n\n\n"
        f"class {_class_name(op.name)}(CertsoarAction):\n"
        f"    def run(self{args}):\n"
        f"        ok, answer = self.call({op.method!r}, {path}, {shape.token}{shape.call_args})\n"
        f"        return (True, {shape.result}) if ok else (False, answer)\n"
    )


def _action_metadata(op: Operation, shape: _ActionShape) -> dict[str, Any]:
    return {
        "name": op.name,
        "pack": PACK,
        "runner_type": RUNNER,
        "description": op.description,
        "enabled": True,
        "entry_point": f"{op.name}.py",
        "parameters": shape.parameters,
        "output_schema": shape.output,
    }


CONFIG_SCHEMA: dict[str, dict[str, Any]] = {
    "url": {
        "type": "string",
        "required": True,
        "description": "The base URL of certsoar serve, e.g. https://certsoar.example.org:8443.",
    },
    "token": {
        "type": "string",
        "secret": True,
        "required": True,
        "description": "The pack's certsoar token, with scopes alerts and read (certsoar token new stackstorm).",
    },
    "verify_tls": {"type": "boolean", "default": True, "description": "Verify the service's TLS certificate."},
    "ca_bundle": {
        "type": "string",
        "description": "A CA bundle (PEM file path) to verify the service's certificate with, for an internal CA.",
    },
    "timeout": {"type": "number", "default": 30, "description": "Seconds to wait for the service's answer."},
    "analysts": {
        "type": "object",
        "secret": True,
        "default": {},
        "description": "StackStorm user -> that analyst's own certsoar token (scopes read and decide, made with "
        "certsoar token new NAME --analyst ANALYST --scope read --scope decide). Only these users can approve, "
        "deny or release, and each does so as their own analyst.",
        "additionalProperties": {"type": "string"},
    },
}


def _triage_metadata() -> dict[str, Any]:
    return {
        "name": "triage",
        "pack": PACK,
        "runner_type": "orquesta",
        "description": "Submit a certificate alert to certsoar, wait for the verdict, and when the playbook asks for "
        "approval pause on an inquiry that only the approver may answer; the answer (approve or deny, and why) is "
        "certsoar's decision, made with the approver's own token.",
        "enabled": True,
        "entry_point": "workflows/triage.yaml",
        "parameters": {
            **_shapes()["submit_alert"].parameters,
            "approver": {
                "type": "string",
                "required": True,
                "description": "The StackStorm user who alone may answer the inquiry (it must be under analysts "
                "in the pack config).",
            },
            "ttl": {"type": "integer", "default": 1440, "description": "Minutes the inquiry waits for an answer."},
            "poll_delay": {"type": "integer", "default": 5, "description": "Seconds between two looks at the run."},
            "poll_count": {"type": "integer", "default": 720, "description": "How many looks before giving up."},
        },
        "output_schema": {
            "type": "object",
            "properties": {
                "run_id": {"type": "string", "description": "The certsoar run's id."},
                "decision": {"type": "string", "description": "approve or deny, when the inquiry was answered."},
                "run": {**_run_output_schema(), "description": "The run as the workflow last saw it."},
            },
        },
    }


_ENDS = "list('completed', 'denied', 'expired')"
"""Run statuses the workflow ends on as succeeded (a denial or an expiry is an answer too)."""


def _look(waiting: str | None) -> dict[str, Any]:
    """A task that reads the run again every poll_delay seconds until it settles; with ``waiting``, a run
    waiting for approval goes on to that task. A run that failed, or is still unsettled when the looks run
    out, fails the workflow."""
    status = "result().result.status"
    unsettled = "list('queued', 'running')" if waiting else "list('queued', 'running', 'waiting_approval')"
    publish = [{"run": "<% result().result %>"}]
    next_: list[dict[str, Any]] = []
    expected = _ENDS
    if waiting:
        next_.append(
            {"when": f"<% succeeded() and {status} = 'waiting_approval' %>", "publish": publish, "do": waiting}
        )
        expected = "list('completed', 'denied', 'expired', 'waiting_approval')"
    next_.append({"when": f"<% succeeded() and {status} in {_ENDS} %>", "publish": publish})
    next_.append({"when": f"<% succeeded() and not ({status} in {expected}) %>", "publish": publish, "do": "fail"})
    return {
        "action": f"{PACK}.get_run",
        "input": {"run_id": "<% ctx().run_id %>"},
        "retry": {
            "when": f"<% succeeded() and {status} in {unsettled} %>",
            "count": "<% ctx().poll_count %>",
            "delay": "<% ctx().poll_delay %>",
        },
        "next": next_,
    }


def _decide(action: str) -> dict[str, Any]:
    return {
        "action": f"{PACK}.{action}",
        "input": {"run_id": "<% ctx().run_id %>", "analyst": "<% ctx().approver %>", "comment": "<% ctx().comment %>"},
        "next": [{"when": "<% succeeded() %>", "do": "outcome"}],
    }


def _triage_workflow() -> dict[str, Any]:
    decision = "result().response.decision"
    published = [{"decision": f"<% {decision} %>"}, {"comment": "<% result().response.comment %>"}]
    return {
        "version": 1.0,
        "description": _triage_metadata()["description"],
        "input": ["alert", "format", "playbook", "content_type", "approver", "ttl", "poll_delay", "poll_count"],
        "vars": [{"run_id": None}, {"run": None}, {"decision": None}, {"comment": None}],
        "output": [{"run_id": "<% ctx().run_id %>"}, {"decision": "<% ctx().decision %>"}, {"run": "<% ctx().run %>"}],
        "tasks": {
            "submit": {
                "action": f"{PACK}.submit_alert",
                "input": {
                    "alert": "<% ctx().alert %>",
                    "format": "<% ctx().format %>",
                    "playbook": "<% ctx().playbook %>",
                    "content_type": "<% ctx().content_type %>",
                },
                "next": [
                    {"when": "<% succeeded() %>", "publish": [{"run_id": "<% result().result.id %>"}], "do": "verdict"}
                ],
            },
            "verdict": _look("ask"),
            "ask": {
                "action": "core.ask",
                "input": {
                    "route": PACK,
                    "users": ["<% ctx().approver %>"],
                    "ttl": "<% ctx().ttl %>",
                    "schema": {
                        "type": "object",
                        "properties": {
                            "decision": {
                                "type": "string",
                                "enum": ["approve", "deny"],
                                "required": True,
                                "description": "Approve or deny the containment certsoar proposes.",
                            },
                            "comment": {
                                "type": "string",
                                "required": True,
                                "description": "Why; kept in the run and the audit.",
                            },
                        },
                    },
                },
                "next": [
                    {"when": f"<% succeeded() and {decision} = 'approve' %>", "publish": published, "do": "approve"},
                    {"when": f"<% succeeded() and {decision} = 'deny' %>", "publish": published, "do": "deny"},
                ],
            },
            "approve": _decide("approve"),
            "deny": _decide("deny"),
            "outcome": _look(None),
        },
    }


def _pack_metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "ref": PACK,
        "name": PACK,
        "description": manifest["description"],
        "keywords": ["certificates", "x509", "soar", "containment", "T1587.003"],
        "version": manifest["version"],
        "python_versions": ["3"],
        "author": "certsoar",
        "email": "certsoar@users.noreply.github.com",
    }


def _example_config() -> dict[str, Any]:
    return {
        "url": "https://certsoar.example.org:8443",
        "token": "<the token certsoar token new stackstorm printed>",
        "verify_tls": True,
        "analysts": {
            "alice": "<alice's token, certsoar token new alice-st2 --analyst alice --scope read --scope decide>"
        },
    }


def _readme(manifest: dict[str, Any], ops: list[Operation], shapes: dict[str, _ActionShape]) -> str:
    lines = [
        f"# StackStorm pack `{PACK}`",
        "",
        markdown_cell(manifest["description"]),
        "",
        "Generated by `certsoar export stackstorm` from certsoar's manifest; regenerate it rather than edit it.",
        "",
        "## Install",
        "",
        "```",
        f"st2 pack install file:///path/to/{PACK}",
        f"cp {PACK}.yaml.example /opt/stackstorm/configs/{PACK}.yaml   # then fill in url, token and analysts",
        "st2ctl reload --register-configs",
        "```",
        "",
        "## Configuration",
        "",
    ]
    config = [
        [f"`{key}`", f"{spec['type']}{' (secret)' if spec.get('secret') else ''}", spec["description"]]
        for key, spec in CONFIG_SCHEMA.items()
    ]
    lines += markdown_table(["key", "type", "description"], config, spaced_rule=False)
    lines += [
        "",
        "## Who decides",
        "",
        "StackStorm keeps an inquiry's response but not who gave it, so `certsoar.triage` takes the one StackStorm",
        "user who may answer (`approver`) and the inquiry admits only that user. `analysts` maps the user to the",
        "analyst's own certsoar token: certsoar records the decision as that analyst's and checks it as it checks",
        "every decision (the gate's roles, requester is not approver, expiry). The pack's `token` cannot decide.",
        "Grant `certsoar.approve`, `certsoar.deny` and `certsoar.release` with StackStorm RBAC only to the users",
        "they name as `analyst`.",
        "",
        "## Actions",
        "",
    ]
    actions = [
        [
            f"`{PACK}.{op.name}`",
            f"`{op.method} {op.path}`",
            str(op.scope),
            op.description,
            ", ".join(f"`{name}`" for name in shapes[op.name].parameters) or "none",
        ]
        for op in ops
    ]
    triage = [
        f"`{PACK}.triage`",
        "Orquesta workflow",
        "alerts, read; decide (approver)",
        _triage_metadata()["description"],
        "`alert`, `approver`, ...",
    ]
    header = ["action", "service call", "token scope", "description", "parameters"]
    lines += markdown_table(header, [*actions, triage], spaced_rule=False)
    lines += [
        "",
        "A refused call fails the action (Python runner convention: `(False, {status_code, error})`): 401 for a",
        "wrong token, 403 for a missing scope or a refused approval, 409 for a settled run, 422 for a bad alert.",
        "",
        "## The run object (`certsoar.get_run` result)",
        "",
    ]
    fields = [[f"`{f.path}`", f.type, f.description] for f in RUN_FIELDS]
    lines += markdown_table(["field", "type", "description"], fields, spaced_rule=False)
    lines += ["", "## certsoar's playbooks", ""]
    playbooks = [[f"`{pb['id']}`", pb["description"]] for pb in manifest.get("playbooks", [])]
    lines += markdown_table(["playbook", "description"], playbooks, spaced_rule=False)
    lines += ["", "## certsoar's actions (the steps its playbooks run)", ""]
    actions_run = [[f"`{a['name']}`", a["description"]] for a in manifest.get("actions", [])]
    lines += markdown_table(["action", "description"], actions_run, spaced_rule=False)
    return "\n".join(lines) + "\n"


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a list used twice is written twice, never as an anchor and an alias


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def export(manifest: dict[str, Any], target: Path) -> list[Path]:
    """Write the pack under ``target``/certsoar and return the files written."""
    ops = operations(manifest)
    shapes = _shapes()
    pack = target / PACK
    files_out: dict[str, str] = {
        "pack.yaml": _dump(_pack_metadata(manifest)),
        "config.schema.yaml": _dump(CONFIG_SCHEMA),
        f"{PACK}.yaml.example": _dump(_example_config()),
        "README.md": _readme(manifest, ops, shapes),
        f"actions/lib/{CLIENT_MODULE}.py": (
            files("certsoar.export") / "templates" / "stackstorm" / f"{CLIENT_MODULE}.py"
        ).read_text(encoding="utf-8"),
        "actions/triage.yaml": _dump(_triage_metadata()),
        "actions/workflows/triage.yaml": _dump(_triage_workflow()),
    }
    for op in ops:
        files_out[f"actions/{op.name}.yaml"] = _dump(_action_metadata(op, shapes[op.name]))
        files_out[f"actions/{op.name}.py"] = _python(op, shapes[op.name])
    written = []
    for relative, text in files_out.items():
        path = pack / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
