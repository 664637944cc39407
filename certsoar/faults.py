"""Crash points for the exactly-once tests.

``CERTSOAR_TEST_CRASH_AT=<point>`` makes the process die (``os._exit``) when it reaches that
point, the way a power cut or ``kill -9`` would: no cleanup, no flush beyond what was committed.
Points: ``before:<step>``, ``after:<step>``, ``intent:<effect key>``, ``write:<effect key>``.
"""

from __future__ import annotations

import os

CRASH_ENV = "CERTSOAR_TEST_CRASH_AT"
CRASH_EXIT_CODE = 86


def crashpoint(point: str) -> None:
    if os.environ.get(CRASH_ENV) == point:
        os._exit(CRASH_EXIT_CODE)
