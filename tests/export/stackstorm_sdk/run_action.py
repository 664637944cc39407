"""Run one action of a generated StackStorm pack as st2's Python runner does (run in the SDK venv).

usage: run_action.py PACK_DIR ACTION CONFIG_JSON PARAMETERS_JSON -- prints {"status", "result"}.

As the runner (contrib/runners/python_runner): parameters are checked against the action's metadata and
its defaults filled in; actions/lib is on the path; the module's Action subclass is built with the pack
config and run(**parameters) called. A (bool, result) answer is the status and the result; any other
answer succeeds; an exception fails the action with its message."""

import importlib.util
import inspect
import json
import logging
import sys
import traceback
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from st2common.runners.base_action import Action  # noqa: E402  (the harness's, see base_action.py)
from st2schemas import St2Validator  # noqa: E402


def _parameters(meta, given):
    declared = meta.get("parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError("unknown parameters %s" % unknown)
    values = dict(given)
    for name, spec in declared.items():  # as st2's assign_default_values: a None takes the default
        if values.get(name) is None and "default" in spec:
            values[name] = spec["default"]
    schema = {"type": "object", "properties": declared, "additionalProperties": False}
    St2Validator(schema).validate({k: v for k, v in values.items() if v is not None})
    return values


def run(pack, name, config, given):
    meta = yaml.safe_load((pack / "actions" / (name + ".yaml")).read_text(encoding="utf-8"))
    parameters = _parameters(meta, given)
    sys.path.insert(0, str(pack / "actions" / "lib"))
    spec = importlib.util.spec_from_file_location("st2_action_" + name, str(pack / "actions" / meta["entry_point"]))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, Action) and c.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise ValueError("%s defines %d Action classes, not one" % (meta["entry_point"], len(classes)))
    answer = classes[0](config=config).run(**parameters)
    if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], bool):
        return ("succeeded" if answer[0] else "failed"), answer[1]
    return "succeeded", answer


def main(argv):
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
    pack, name = Path(argv[1]), argv[2]
    config, given = json.loads(argv[3]), json.loads(argv[4])
    try:
        status, result = run(pack, name, config, given)
    except Exception as e:
        traceback.print_exc()
        status, result = "failed", {"error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps({"status": status, "result": result}))


if __name__ == "__main__":
    main(sys.argv)
