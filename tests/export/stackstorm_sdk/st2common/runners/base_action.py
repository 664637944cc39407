"""The part of st2common's ``Action`` base that a Python-runner action sees (st2docs, "Writing custom
Python actions"): ``self.config`` (the pack config), ``self.logger`` and ``self.action_service``.

st2common is not published on PyPI (it ships only inside StackStorm's own packages), so the harness
(run_action.py) puts this module on the path in its place; the generated actions import it exactly as
they import the real one."""

import logging


class Action:
    def __init__(self, config=None, action_service=None):
        self.config = config or {}
        self.action_service = action_service
        self.logger = logging.getLogger("st2.actions.%s" % type(self).__name__)

    def run(self, **kwargs):
        raise NotImplementedError()
