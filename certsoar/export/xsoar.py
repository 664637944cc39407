"""``certsoar export xsoar DIR``: the Cortex XSOAR pack ``DIR/Packs/CertSOAR``.

An integration in the split layout demisto-sdk expects (YAML + Python on CommonServerPython's
``BaseClient`` + its unit tests, description, image and README), the triage playbook, the pack's
metadata and release notes. Commands, arguments and context paths are described by the manifest (the
service's endpoint summaries, certsoar's run fields, its playbooks and actions), so the pack says what the
code it talks to does."""

from __future__ import annotations

import json
import struct
import zlib
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from certsoar.export.soar import RUN_FIELDS, Operation, markdown_table, operations
from certsoar.service.app import ALERT_CONTENT_TYPES
from certsoar.store import RunStatus

PACK = "CertSOAR"
PLAYBOOK = "CertSOAR Triage"
FROM_VERSION = "6.10.0"
DOCKER_IMAGE = "demisto/python3:3.12.8.1983910"
"""The python3 image the integration runs in (it needs only requests, which the image has)."""
OUTPUTS_PREFIX = "CertSOAR.Run"
APPROVAL_TASK = "certsoar approval"
"""The data-collection task and its form: its answers are read back from the context under this name."""
WAITING = str(RunStatus.WAITING_APPROVAL)

COMMANDS: dict[str, str] = {
    "certsoar-submit-alert": "submit_alert",
    "certsoar-run-get": "get_run",
    "certsoar-runs-list": "list_runs",
    "certsoar-approve": "approve",
    "certsoar-deny": "deny",
    "certsoar-release": "release",
}
"""XSOAR command -> the operation of certsoar.export.soar it calls."""

_TYPES = {"string": "String", "date": "Date", "boolean": "Boolean", "number": "Number", "unknown": "Unknown"}
_LISTED = ("id", "playbook", "alert_id", "status", "created", "updated")
"""The fields of a run that GET /v1/runs lists."""
_RUN_ID = {"name": "run_id", "required": True, "description": "The run's id (CertSOAR.Run.id)."}


def export(manifest: dict[str, Any], target: Path) -> list[Path]:
    ops = {op.name: op for op in operations(manifest)}
    pack = Path("Packs") / PACK
    integration = pack / "Integrations" / PACK
    content: dict[Path, str | bytes] = {
        pack / "pack_metadata.json": json.dumps(_pack_metadata(manifest), indent=4) + "\n",
        pack / "README.md": _pack_readme(manifest),
        pack / ".pack-ignore": "",
        pack / ".secrets-ignore": "",
        pack / "Author_image.png": _png(120, 50),
        integration / f"{PACK}.yml": _yaml(_integration(manifest, ops)),
        integration / f"{PACK}.py": _template("CertSOAR.py.tmpl").replace(
            "__CONTEXT_FIELDS__", repr([field.path for field in RUN_FIELDS])
        ),
        integration / f"{PACK}_test.py": _template("CertSOAR_test.py.tmpl"),
        integration / f"{PACK}_description.md": _description(manifest),
        integration / f"{PACK}_image.png": _png(120, 50),
        integration / "README.md": integration_readme(manifest, ops),
        integration / "command_examples.txt": _command_examples(),
        pack / "Playbooks" / "playbook-CertSOAR_Triage.yml": _yaml(_playbook()),
        pack / "Playbooks" / "playbook-CertSOAR_Triage_README.md": _playbook_readme(),
        pack / "ReleaseNotes" / "1_0_0.md": _release_notes(manifest),
    }
    written = []
    for relative, data in content.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        written.append(path)
    return written


def _template(name: str) -> str:
    return files("certsoar.export").joinpath("templates", "xsoar", name).read_text(encoding="utf-8")


def _yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def _pack_metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": PACK,
        "description": manifest["description"],
        "support": "community",
        "currentVersion": "1.0.0",
        "author": "certsoar",
        "url": "",
        "email": "",
        "created": "2026-12-01T00:00:00Z",
        "categories": ["Case Management"],
        "tags": [],
        "useCases": [],
        "keywords": ["certificate", "T1587.003", "containment", "approval"],
        "marketplaces": ["xsoar"],
    }


def _arguments(name: str, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    playbooks = [p["id"] for p in manifest["playbooks"]]
    if name == "certsoar-submit-alert":
        return [
            {
                "name": "alert",
                "required": True,
                "description": "The alert: JSON, Zeek TSV, Event XML or a PEM certificate.",
            },
            {
                "name": "content_type",
                "description": "How the alert is encoded.",
                "defaultValue": "application/json",
                "auto": "PREDEFINED",
                "predefined": sorted(ALERT_CONTENT_TYPES),
            },
            {"name": "format", "description": "The alert's format when it cannot be detected."},
            {
                "name": "playbook",
                "description": "The certsoar playbook to run.",
                "defaultValue": "certificate-alert",
                "auto": "PREDEFINED",
                "predefined": playbooks,
            },
        ]
    if name == "certsoar-runs-list":
        return [
            {
                "name": "status",
                "description": "Only runs in this status.",
                "auto": "PREDEFINED",
                "predefined": [str(s) for s in RunStatus],
            },
            {"name": "since", "description": "Only runs created at or after this time (ISO 8601 with a zone)."},
            {"name": "limit", "description": "At most this many runs (1-1000).", "defaultValue": "50"},
        ]
    if name in ("certsoar-approve", "certsoar-deny"):
        return [_RUN_ID, {"name": "comment", "description": "Why; kept in the run and its audit."}]
    if name == "certsoar-release":
        return [_RUN_ID, {"name": "comment", "required": True, "description": "Why the containment is taken back."}]
    return [_RUN_ID]


def _outputs(name: str) -> list[dict[str, str]]:
    fields = [f for f in RUN_FIELDS if name != "certsoar-runs-list" or f.path in _LISTED]
    return [
        {"contextPath": f"{OUTPUTS_PREFIX}.{f.path}", "description": f.description, "type": _TYPES[f.type]}
        for f in fields
    ]


def _integration(manifest: dict[str, Any], ops: dict[str, Operation]) -> dict[str, Any]:
    return {
        "category": "Case Management",
        "sectionOrder": ["Connect", "Collect"],
        "commonfields": {"id": PACK, "version": -1},
        "name": PACK,
        "display": PACK,
        "description": manifest["description"],
        "configuration": [
            {
                "name": "url",
                "display": "Server URL (e.g. https://certsoar.example:8443)",
                "type": 0,
                "required": True,
                "section": "Connect",
            },
            {
                "name": "credentials",
                "displaypassword": "API token",
                "hiddenusername": True,
                "additionalinfo": "A token made with `certsoar token new` (scopes alerts, read, decide).",
                "type": 9,
                "required": True,
                "section": "Connect",
            },
            {
                "name": "insecure",
                "display": "Trust any certificate (not secure)",
                "type": 8,
                "required": False,
                "section": "Connect",
                "advanced": True,
            },
            {
                "name": "proxy",
                "display": "Use system proxy settings",
                "type": 8,
                "required": False,
                "section": "Connect",
                "advanced": True,
            },
            {"name": "isFetch", "display": "Fetch incidents", "type": 8, "required": False, "section": "Collect"},
            {"name": "incidentType", "display": "Incident type", "type": 13, "required": False, "section": "Collect"},
            {
                "name": "first_fetch",
                "display": "First fetch time",
                "additionalinfo": "Only runs created since then: <number> <minutes|hours|days> or an ISO 8601 time.",
                "defaultvalue": "3 days",
                "type": 0,
                "required": False,
                "section": "Collect",
            },
            {
                "name": "max_fetch",
                "display": "Maximum number of incidents per fetch",
                "defaultvalue": "50",
                "type": 0,
                "required": False,
                "section": "Collect",
            },
        ],
        "script": {
            "script": "-",
            "type": "python",
            "subtype": "python3",
            "dockerimage": DOCKER_IMAGE,
            "isfetch": True,
            "runonce": False,
            "commands": [
                {
                    "name": command,
                    "description": ops[op].description,
                    "arguments": _arguments(command, manifest),
                    "outputs": _outputs(command),
                }
                for command, op in COMMANDS.items()
            ],
        },
        "fromversion": FROM_VERSION,
        "tests": ["No tests (auto formatted)"],
    }


def _description(manifest: dict[str, Any]) -> str:
    return (
        f"## {PACK}\n{manifest['description']}\n\n"
        "- **certsoar service URL**: where `certsoar serve` listens.\n"
        "- **API token**: made with `certsoar token new`; give it the scopes `alerts`, `read` and `decide`, "
        "and an analyst (approvals are made as that analyst, and a requester cannot approve their own run).\n"
        "- **Fetch incidents**: each run waiting for approval becomes one incident.\n"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "".join(f"{line}\n" for line in markdown_table(header, rows))


def integration_readme(manifest: dict[str, Any], ops: dict[str, Operation]) -> str:
    """The integration's README: its commands as the service's endpoint summaries describe them, their
    context, and certsoar's playbooks and actions as the manifest describes them."""
    out = [f"{manifest['description']}\n\nThis integration talks to the certsoar service (`certsoar serve`).\n"]
    out.append("\n## Configure CertSOAR in Cortex\n\n")
    parameters = [
        ["Server URL", "Where `certsoar serve` listens.", "True"],
        ["API token", "A token of `certsoar token new` with scopes alerts, read, decide.", "True"],
        ["Fetch incidents", "Each run waiting for approval becomes one incident.", "False"],
        ["First fetch time", "Only runs created since then (default 3 days).", "False"],
        ["Maximum number of incidents per fetch", "Default 50.", "False"],
    ]
    out.append(_table(["Parameter", "Description", "Required"], parameters))
    out.append("\n## Commands\n")
    out.append(
        "\nYou can execute these commands from the CLI, as part of an automation, or in a playbook.\n"
        "After you successfully execute a command, a DBot message appears in the War Room with the command details.\n"
    )
    for command, op in COMMANDS.items():
        operation = ops[op]
        out.append(f"\n### {command}\n\n***\n{operation.description}\n\n")
        out.append(f"#### Base Command\n\n`{command}`\n\n")
        out.append(f"Calls `{operation.method} {operation.path}` with a token of scope `{operation.scope}`.\n\n")
        arguments = [
            [arg["name"], arg["description"], "Required" if arg.get("required") else "Optional"]
            for arg in _arguments(command, manifest)
        ]
        out.append("#### Input\n\n" + _table(["Argument Name", "Description", "Required"], arguments))
        outputs = [[output["contextPath"], output["type"], output["description"]] for output in _outputs(command)]
        out.append("\n#### Context Output\n\n" + _table(["Path", "Type", "Description"], outputs))
    playbooks = [[book["id"], book["description"]] for book in manifest["playbooks"]]
    out.append("\n## certsoar's playbooks\n\n" + _table(["Playbook", "Description"], playbooks))
    actions = [
        [action["name"], "yes" if action["mutates"] else "no", action["description"]] for action in manifest["actions"]
    ]
    out.append("\n## certsoar's actions\n\n" + _table(["Action", "Changes things", "Description"], actions))
    return "".join(out)


def _pack_readme(manifest: dict[str, Any]) -> str:
    return (
        f"{manifest['description']}\n\n"
        f"The **{PACK}** integration submits certificate alerts to certsoar, reads its runs, and approves or denies "
        "their containment; runs waiting for approval are fetched as incidents. The **CertSOAR Triage** playbook "
        "submits a certificate incident, waits for certsoar's verdict and asks an analyst to approve or deny.\n"
    )


def _release_notes(manifest: dict[str, Any]) -> str:
    return (
        "#### Integrations\n\n##### CertSOAR\n\n"
        f"- Exported from certsoar {manifest['version']}: the commands {', '.join(COMMANDS)} and fetch-incidents.\n\n"
        "#### Playbooks\n\n##### New: CertSOAR Triage\n\n"
        "- Submits a certificate incident, waits for the verdict and asks to approve or deny the containment.\n"
    )


def _command_examples() -> str:
    return (
        '!certsoar-submit-alert alert="{\\"id\\": \\"siem-1\\", \\"pem\\": \\"...\\"}"\n'
        "!certsoar-run-get run_id=r-1\n"
        "!certsoar-runs-list status=waiting_approval\n"
        '!certsoar-approve run_id=r-1 comment="contain"\n'
        '!certsoar-deny run_id=r-1 comment="benign"\n'
        '!certsoar-release run_id=r-1 comment="false positive"\n'
    )


def _playbook_readme() -> str:
    return (
        "Submits the incident's certificate alert to certsoar, waits for its verdict and, when the run waits for "
        "approval, asks an analyst (a data-collection task) to approve or deny the containment.\n\n"
        "## Dependencies\n\n### Integrations\n\n* CertSOAR\n\n### Commands\n\n"
        "* certsoar-submit-alert\n* certsoar-run-get\n* certsoar-approve\n* certsoar-deny\n\n"
        "## Playbook Inputs\n\n| **Name** | **Description** | **Default Value** | **Required** |\n"
        "| --- | --- | --- | --- |\n"
        "| Alert | The alert to submit (JSON, Zeek TSV, Event XML or PEM). | incident.details | Required |\n\n"
        "## Playbook Outputs\n\n| **Path** | **Description** | **Type** |\n| --- | --- | --- |\n"
        "| CertSOAR.Run.id | The run's id. | String |\n"
        "| CertSOAR.Run.status | The run's status. | String |\n"
    )


def _task(
    id_: int, name: str, type_: str, next_: dict[str, list[str]] | None, x: int, y: int, **extra: Any
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": str(id_),
        "taskid": f"00000000-0000-4000-8000-{id_:012d}",
        "type": type_,
        "task": {
            "id": f"00000000-0000-4000-8000-{id_:012d}",
            "version": -1,
            "name": name,
            "type": type_,
            "iscommand": "script" in extra,
            "brand": PACK if "script" in extra else "",
        },
        "separatecontext": False,
        "view": json.dumps({"position": {"x": x, "y": y}}),
        "note": False,
        "timertriggers": [],
        "ignoreworker": False,
        "skipunavailable": False,
        "quietmode": 0,
        "isoversize": False,
        "isautoswitchedtoquietmode": False,
    }
    if next_:
        task["nexttasks"] = next_
    if "script" in extra:
        task["task"]["script"] = f"{PACK}|||{extra.pop('script')}"
    if "description" in extra:
        task["task"]["description"] = extra.pop("description")
    task.update(extra)
    return task


def _simple(value: str) -> dict[str, str]:
    return {"simple": value}


def _context(path: str) -> dict[str, Any]:
    return {"complex": {"root": path}}


def _yes_when_equal(path: str, value: str) -> list[dict[str, Any]]:
    """A condition task's branch ``yes``, taken when the context at ``path`` is ``value``."""
    left = {"value": _context(path), "iscontext": True}
    return [
        {
            "label": "yes",
            "condition": [[{"operator": "isEqualString", "left": left, "right": {"value": _simple(value)}}]],
        }
    ]


def _playbook() -> dict[str, Any]:
    run_id = _context("CertSOAR.Run.id")
    tasks = {
        "0": _task(0, "", "start", {"#none#": ["1"]}, 450, 50),
        "1": _task(
            1,
            "Submit the alert to certsoar",
            "regular",
            {"#none#": ["2"]},
            450,
            200,
            script="certsoar-submit-alert",
            description="Submit the incident's alert; certsoar queues a run of its playbook.",
            scriptarguments={"alert": _context("inputs.Alert")},
        ),
        "2": _task(
            2,
            "Wait for certsoar's verdict",
            "regular",
            {"#none#": ["3"]},
            450,
            400,
            script="certsoar-run-get",
            description="Read the run until it waits for approval or has ended.",
            scriptarguments={"run_id": run_id},
            loop={
                "iscommand": True,
                "exitCondition": "",
                "wait": 1,
                "max": 100,
                "builtincondition": [
                    [
                        {
                            "operator": "notIn",
                            "left": {"value": _context("CertSOAR.Run.status"), "iscontext": True},
                            "right": {"value": _simple("queued,running")},
                        }
                    ]
                ],
            },
        ),
        "3": _task(
            3,
            "Does the run wait for approval?",
            "condition",
            {"#default#": ["7"], "yes": ["4"]},
            450,
            600,
            conditions=_yes_when_equal("CertSOAR.Run.status", WAITING),
        ),
        "4": _task(
            4,
            APPROVAL_TASK,
            "collection",
            {"#none#": ["5"]},
            200,
            800,
            message={
                "to": None,
                "subject": None,
                "body": _simple("certsoar recommends containment: approve or deny it."),
                "methods": [],
                "format": "",
                "bcc": None,
                "cc": None,
                "timings": {"retriescount": 2, "retriesinterval": 360, "completeafterreplies": 1},
            },
            form={
                "questions": [
                    {
                        "id": "0",
                        "label": "",
                        "labelarg": _simple("Approve the containment of certsoar run ${CertSOAR.Run.id}?"),
                        "required": True,
                        "gridcolumns": [],
                        "defaultrows": [],
                        "type": "singleSelect",
                        "options": [],
                        "optionsarg": [_simple("Approve"), _simple("Deny")],
                        "fieldassociated": "",
                        "placeholder": "",
                        "tooltip": "",
                        "readonly": False,
                    }
                ],
                "title": APPROVAL_TASK,
                "description": "certsoar waits for an analyst's decision on its containment.",
                "sender": "",
                "expired": False,
                "totalanswers": 0,
            },
        ),
        "5": _task(
            5,
            "Approved?",
            "condition",
            {"#default#": ["8"], "yes": ["6"]},
            200,
            1000,
            conditions=_yes_when_equal(f"{APPROVAL_TASK}.Answers.0", "Approve"),
        ),
        "6": _task(
            6,
            "Approve in certsoar",
            "regular",
            {"#none#": ["7"]},
            0,
            1200,
            script="certsoar-approve",
            scriptarguments={"run_id": run_id, "comment": _simple("approved in XSOAR")},
        ),
        "8": _task(
            8,
            "Deny in certsoar",
            "regular",
            {"#none#": ["7"]},
            400,
            1200,
            script="certsoar-deny",
            scriptarguments={"run_id": run_id, "comment": _simple("denied in XSOAR")},
        ),
        "7": _task(7, "Done", "title", None, 450, 1400),
    }
    return {
        "id": PLAYBOOK,
        "version": -1,
        "name": PLAYBOOK,
        "description": (
            "Submits a certificate incident to certsoar, waits for its verdict and offers approve/deny of the "
            "containment as a data-collection task."
        ),
        "starttaskid": "0",
        "tasks": tasks,
        "view": json.dumps(
            {"linkLabelsPosition": {}, "paper": {"dimensions": {"height": 1450, "width": 830, "x": 0, "y": 50}}}
        ),
        "inputs": [
            {
                "key": "Alert",
                "value": {"complex": {"root": "incident", "accessor": "details"}},
                "required": True,
                "description": "The alert to submit (JSON, Zeek TSV, Event XML or PEM).",
                "playbookInputQuery": None,
            }
        ],
        "outputs": [
            {"contextPath": "CertSOAR.Run.id", "description": "The run's id.", "type": "string"},
            {"contextPath": "CertSOAR.Run.status", "description": "The run's status.", "type": "string"},
        ],
        "tests": ["No tests (auto formatted)"],
        "fromversion": FROM_VERSION,
    }


def _png(width: int, height: int) -> bytes:
    """A small PNG in certsoar's colours (a dark band with a light certificate box): no binary in the repo."""

    def pixel(x: int, y: int) -> bytes:
        inside = width // 4 <= x < 3 * width // 4 and height // 4 <= y < 3 * height // 4
        return bytes((230, 236, 245) if inside else (22, 52, 96))

    raw = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
