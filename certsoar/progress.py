"""Progress of long work (SIEM file scans, sweeps, building the lab) on standard error.

Shown only when standard error is a terminal and nobody asked for quiet (``certsoar --quiet`` calls
``set_quiet``); otherwise every call is a cheap no-op, so a SOAR reading the CLI's output, a pipe or a
log file never sees it. One line, redrawn at most every ``REDRAW_SECONDS``: what is examined, how many,
of how many when known, the rate, and the findings so far.

    with progress("SIEM files: scanning", unit="records") as bar:
        for record in records:
            ...
            bar.advance(1, findings=hits)

Code that reports through a plain function (a sweep) takes ``bar.report``: ``(examined, findings) -> None``
with running totals.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from certsoar.escaping import visible

REDRAW_SECONDS = 0.2
Report = Callable[[int, int], None]
"""``(examined, findings)``: running totals of a long piece of work."""

_quiet = False
_draw_lock = threading.Lock()  # concurrent scans (parallel steps run in threads) take turns on the one line


def set_quiet(quiet: bool) -> None:
    """Silence (or allow) progress for this process."""
    global _quiet
    _quiet = quiet


def _shows(stream: TextIO, quiet: bool | None) -> bool:
    if _quiet if quiet is None else quiet:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


class Progress:
    def __init__(
        self, label: str, total: int | None, unit: str, stream: TextIO, shown: bool, counts_findings: bool
    ) -> None:
        self.label, self.total, self.unit, self.stream, self.shown = label, total, unit, stream, shown
        self.counts_findings = counts_findings
        self.examined = 0
        self.findings = 0
        self._started = time.monotonic()
        self._drawn = 0.0

    def advance(self, n: int = 1, *, findings: int | None = None) -> None:
        """``n`` more items examined; ``findings`` (when given) is the running total of findings."""
        self.report(self.examined + n, self.findings if findings is None else findings)

    def report(self, examined: int, findings: int) -> None:
        """Running totals: the plain callback form (``Report``)."""
        self.examined, self.findings = examined, findings
        if not self.shown:
            return
        now = time.monotonic()
        if now - self._drawn >= REDRAW_SECONDS:
            self._drawn = now
            self._draw(end="")

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        count = f"{self.examined:,}" + (f" of {self.total:,}" if self.total else "")
        share = f" ({100 * self.examined / self.total:.0f}%)" if self.total else ""
        found = f", {self.findings:,} finding(s) so far" if self.counts_findings else ""
        return visible(f"{self.label}: {count} {self.unit}{share}, {self.examined / elapsed:,.1f}/s{found}")

    def _draw(self, end: str) -> None:
        with _draw_lock:
            self.stream.write(f"\r\x1b[K{self.line()}{end}")
            self.stream.flush()

    def close(self) -> None:
        if self.shown and self._drawn:  # leave the last state on screen, once something was drawn
            self._draw(end="\n")


@contextmanager
def progress(
    label: str,
    total: int | None = None,
    *,
    unit: str = "items",
    findings: bool = True,
    quiet: bool | None = None,
    stream: TextIO | None = None,
) -> Iterator[Progress]:
    """A progress line for the block (``findings``: the work finds things worth counting); ``quiet``
    overrides the process's ``set_quiet``."""
    out = stream or sys.stderr
    bar = Progress(label, total, unit, out, _shows(out, quiet), findings)
    try:
        yield bar
    finally:
        bar.close()
