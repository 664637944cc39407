"""Check a generated StackStorm pack the way StackStorm would (run in the SDK venv).

usage: check_pack.py PACK_DIR -- prints a JSON list of problems; an empty list means the pack passed:
pack.yaml against pack.json, each actions/*.yaml against action.json (its output_schema a valid draft-4
schema, its entry point present, an Orquesta workflow's input matching its parameters), each attribute of
config.schema.yaml against action_params.json, and each Orquesta workflow through orquesta's own spec
inspection (syntax, semantics, expressions, context)."""

import json
import sys
from pathlib import Path

import yaml
from jsonschema import Draft4Validator
from jsonschema.exceptions import SchemaError
from orquesta.specs import native
from st2schemas import problems, schema

RUNNERS = ("python-script", "orquesta")


def _load(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def check_action(pack, path):
    meta = _load(path)
    found = problems(meta, schema("action.json"), path.name)
    if meta.get("runner_type") not in RUNNERS:
        found.append("%s: runner_type %r is not one of %s" % (path.name, meta.get("runner_type"), RUNNERS))
    entry = pack / "actions" / meta.get("entry_point", "")
    if not entry.is_file():
        found.append("%s: entry_point %s does not exist" % (path.name, meta.get("entry_point")))
    try:
        Draft4Validator.check_schema(meta.get("output_schema", {}))
    except SchemaError as e:
        found.append("%s: output_schema: %s" % (path.name, e.message))
    if meta.get("runner_type") == "orquesta" and entry.is_file():
        found += check_workflow(entry, meta)
    return found


def check_workflow(path, meta):
    spec = native.WorkflowSpec(_load(path))
    found = ["%s: %s" % (path.name, json.dumps(errors)) for errors in spec.inspect().values()]
    declared = [next(iter(i)) if isinstance(i, dict) else i for i in spec.input or []]
    if sorted(declared) != sorted(meta.get("parameters", {})):
        found.append(
            "%s: input %s is not the action's parameters %s" % (path.name, declared, sorted(meta["parameters"]))
        )
    return found


def check(pack):
    found = problems(_load(pack / "pack.yaml"), schema("pack.json"), "pack.yaml")
    attributes = _load(pack / "config.schema.yaml")
    for name, attribute in attributes.items():
        found += problems(attribute, schema("action_params.json"), "config.schema.yaml " + name)
    for path in sorted((pack / "actions").glob("*.yaml")):
        found += check_action(pack, path)
    return found


if __name__ == "__main__":
    print(json.dumps(check(Path(sys.argv[1]))))
