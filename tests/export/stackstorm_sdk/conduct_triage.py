"""Conduct the pack's Orquesta workflow with orquesta's own conductor (run in the SDK venv).

usage: conduct_triage.py PACK_DIR CONFIG_JSON INPUT_JSON RESPONSE_JSON -- prints {"status", "output",
"tasks", "inquiries"}.

Each task's action is run for real: certsoar.* through run_action.py (as st2's Python runner would) against
the live service; core.ask, which only StackStorm's inquiry service can answer, is answered with
RESPONSE_JSON after checking it against the inquiry's schema as st2 does (a response the schema refuses
fails the inquiry). A retry's delay is honoured, as st2's workflow engine does."""

import json
import sys
import time
from pathlib import Path

import yaml
from orquesta import conducting, events, statuses
from orquesta.specs import native
from run_action import run
from st2schemas import St2Validator


def _ask(task_input, response, inquiries):
    inquiries.append({"users": task_input.get("users"), "route": task_input.get("route"), "ttl": task_input.get("ttl")})
    errors = [e.message for e in St2Validator(task_input["schema"]).iter_errors(response)]
    if errors:
        return statuses.FAILED, {"error": "the response did not pass the inquiry's schema: %s" % errors}
    return statuses.SUCCEEDED, {**task_input, "response": response}


def _act(pack, config, ref, task_input):
    pack_name, name = ref.split(".", 1)
    if pack_name != "certsoar":
        raise ValueError("the workflow calls %s, which is not in the certsoar pack" % ref)
    try:
        status, result = run(pack, name, config, task_input)
    except Exception as e:
        status, result = "failed", {"error": "%s: %s" % (type(e).__name__, e)}
    wrapped = {"result": result, "stdout": "", "stderr": "", "exit_code": 0}
    return (statuses.SUCCEEDED if status == "succeeded" else statuses.FAILED), wrapped


def conduct(pack, config, inputs, response):
    definition = yaml.safe_load((pack / "actions" / "workflows" / "triage.yaml").read_text(encoding="utf-8"))
    conductor = conducting.WorkflowConductor(native.WorkflowSpec(definition), inputs=inputs)
    conductor.request_workflow_status(statuses.RUNNING)
    tasks, inquiries = [], []
    for _ in range(1000):
        next_tasks = conductor.get_next_tasks()
        if not next_tasks:
            break
        for task in next_tasks:
            time.sleep(min(float(task.get("delay") or 0), 5))
            action = task["actions"][0]
            conductor.update_task_state(task["id"], task["route"], events.ActionExecutionEvent(statuses.RUNNING))
            if action["action"] == "core.ask":
                status, result = _ask(action["input"], response, inquiries)
            else:
                status, result = _act(pack, config, action["action"], action["input"])
            tasks.append({"task": task["id"], "status": status, "result": result.get("result", result)})
            conductor.update_task_state(task["id"], task["route"], events.ActionExecutionEvent(status, result=result))
    conductor.render_workflow_output()  # as st2's workflow engine does once the workflow completes
    return {
        "status": conductor.get_workflow_status(),
        "output": conductor.get_workflow_output(),
        "errors": conductor.errors,
        "tasks": tasks,
        "inquiries": inquiries,
    }


if __name__ == "__main__":
    pack_dir, config_json, inputs_json, response_json = sys.argv[1:5]
    print(
        json.dumps(conduct(Path(pack_dir), json.loads(config_json), json.loads(inputs_json), json.loads(response_json)))
    )
