"""Where the demo talks: plain, flushed lines that read the same in a terminal and a CI log."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from deploymentgate_devkit.demo.progress import Symbols, paint, symbols_for


class Console:
    def __init__(self, stream: TextIO | None = None, *, color: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.color = bool(isatty and isatty()) if color is None else color
        self.symbols: Symbols = symbols_for(getattr(self.stream, "encoding", None))
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def headline(self, text: str) -> None:
        self.line()
        self.line(paint(f"==> {text}", "1", self.color) + f"  [{self.elapsed():.1f}s]")

    def command(self, text: str) -> None:
        """A command the user could type to do the same themselves."""
        self.line(paint(f"    $ {text}", "2", self.color))

    def block(self, text: str, indent: str = "    ") -> None:
        for row in text.rstrip("\n").splitlines():
            self.line(indent + row)

    def verdict(self, ok: bool, text: str) -> None:
        mark = self.symbols.passed if ok else self.symbols.failed
        self.line(f"    {mark} " + paint(text, "32" if ok else "31", self.color))
