"""The root of the app's own exceptions: ``except PersonsegError`` catches every failure the app
explains in words (a bad input, an unwritable output, a model or camera that will not open), and
nothing else. Each subclass also keeps the built-in base it always had (RuntimeError, ValueError), so
older ``except`` clauses still hold. Only the command-line entry points turn these into exit codes."""

from __future__ import annotations


class PersonsegError(Exception):
    """A failure with a message meant for the user (one line, says what to do)."""


__all__ = ["PersonsegError"]
