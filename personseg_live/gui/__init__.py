"""The desktop app: a live preview with controls, built on PySide6 and superqt.

``run_gui(args)`` is the entry point; Qt is imported only when the GUI is used, so the CLI's other
commands start without it.
"""


def run_gui(*args, **kwargs) -> int:
    from .app import run_gui as _run_gui

    return _run_gui(*args, **kwargs)


__all__ = ["run_gui"]
