"""Screenshot of the window with the room badge (issue 13): the demo clip, the room learned by itself.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshot_room.py [--out docs/screenshot_room.png]

A throw-away settings file and data folder: a user's settings and learned rooms are neither read nor changed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot_room.png")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = tmp  # platformdirs: learned rooms go here, not the user's folder
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        from personseg_live import assets
        from personseg_live.gui.app import create_window

        app = QApplication.instance() or QApplication(sys.argv[:1])
        cli = argparse.Namespace(source=str(assets.demo_clip()), background=None, model=None)
        settings = Path(tmp) / "settings.json"
        settings.write_text('{"room": {"auto_learn": true}}')  # the room learned from the clip itself
        window = create_window(cli, settings_path=settings)
        window.resize(1280, 760)
        window.show()
        result = {"code": 1}

        def poll() -> None:
            if window.room.badge.text() == "Room: known" and window.preview.frames_shown > 60:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                window.grab().save(str(args.out))
                print(f"{args.out}: badge {window.room.badge.text()!r}")
                result["code"] = 0
                window.close()
                app.quit()

        timer = QTimer(interval=200)
        timer.timeout.connect(poll)
        timer.start()
        QTimer.singleShot(int(args.timeout * 1000), app.quit)
        app.exec()
        if result["code"]:
            print("the room badge never said 'Room: known'", file=sys.stderr)
            window.close()
        return result["code"]


if __name__ == "__main__":
    raise SystemExit(main())
