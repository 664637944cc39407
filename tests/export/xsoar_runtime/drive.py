"""Run one command of an exported XSOAR integration outside XSOAR, with demistomock patched: the spec on
stdin (integration folder, command, params, args, last run), what XSOAR would have received on stdout
(the entries, the incidents, the new last run). Runs in the demisto-sdk virtualenv."""

import json
import sys
from pathlib import Path
from typing import Any


def main() -> None:
    spec = json.load(sys.stdin)
    sys.path[:0] = [spec["integration"], str(Path(__file__).parent)]
    import demistomock as demisto

    got: dict[str, Any] = {"entries": [], "incidents": None, "last_run": None, "logs": []}
    demisto.params = lambda: spec["params"]
    demisto.args = lambda: spec.get("args", {})
    demisto.command = lambda: spec["command"]
    demisto.getLastRun = lambda: spec.get("last_run", {})
    demisto.setLastRun = lambda obj: got.__setitem__("last_run", obj)
    demisto.incidents = lambda incidents: got.__setitem__("incidents", incidents)
    demisto.results = got["entries"].append
    demisto.debug = demisto.info = demisto.error = got["logs"].append

    import CertSOAR  # the exported integration, imported as XSOAR loads it

    try:
        CertSOAR.main()
    except SystemExit as exit_:  # return_error's
        got["exit"] = exit_.code
    json.dump(got, sys.stdout)


if __name__ == "__main__":
    main()
