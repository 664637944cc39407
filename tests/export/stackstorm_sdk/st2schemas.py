"""StackStorm's way of checking metadata against its schemas, rebuilt from jsonschema (run in the SDK venv).

st2 validates with its CustomValidator (st2common/util/schema/__init__.py): JSON Schema draft 4, except
that "required" is draft 3's boolean inside "properties" (draft 4's "required" list is not checked)."""

import json
from pathlib import Path

from jsonschema import Draft4Validator, _validators, validators

SCHEMAS = Path(__file__).resolve().parents[2] / "data" / "stackstorm"

_RULES = {name: rule for name, rule in Draft4Validator.VALIDATORS.items() if name != "required"}
_RULES["properties"] = _validators.properties_draft3
St2Validator = validators.create(meta_schema=Draft4Validator.META_SCHEMA, validators=_RULES)


def schema(name):
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def problems(instance, schema_doc, where):
    """Every way ``instance`` breaks ``schema_doc``, each prefixed with ``where``."""
    found = St2Validator(schema_doc).iter_errors(instance)
    return ["%s: %s (at %s)" % (where, e.message, "/".join(str(p) for p in e.absolute_path) or "top") for e in found]
