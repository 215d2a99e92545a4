"""The "virtual camera unavailable" dialog: this OS's setup steps only, each command on its own
line, a Copy button, and "Check my setup" (the doctor report) beside them.

The CLI prints ``VCAM_HELP`` (every OS at once, for a terminal); here the steps are data, so the
window shows only those of the machine it runs on.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..video.sinks import VCAM_MODPROBE

PERSIST_OPTIONS = "options v4l2loopback devices=1 exclusive_caps=1 card_label=\"personseg-live\""


@dataclass(frozen=True)
class Step:
    text: str
    commands: tuple[str, ...] = ()


LINUX = (
    Step(
        "Install the v4l2loopback kernel module (Debian and Ubuntu below; Fedora: akmod-v4l2loopback "
        "from RPM Fusion; Arch: v4l2loopback-dkms):",
        ("sudo apt install v4l2loopback-dkms",),
    ),
    Step(
        "Load it as a camera that Chrome, Zoom and Teams list (exclusive_caps=1 makes it a capture-only "
        "device; without it those apps do not show it):",
        (VCAM_MODPROBE,),
    ),
    Step(
        "Optional, to have it after every restart:",
        (
            "echo v4l2loopback | sudo tee /etc/modules-load.d/v4l2loopback.conf",
            f"echo '{PERSIST_OPTIONS}' | sudo tee /etc/modprobe.d/v4l2loopback.conf",
        ),
    ),
)
WINDOWS = (
    Step("Install OBS Studio (it brings the virtual camera device), from https://obsproject.com or:",
         ("winget install OBSProject.OBSStudio",)),
    Step('Open OBS once, click "Start Virtual Camera", then stop it and close OBS; personseg-live uses the '
         "device from then on. Unity Capture works too."),
)
MACOS = (
    Step("Install OBS Studio (it brings the virtual camera), from https://obsproject.com or:",
         ("brew install --cask obs",)),
    Step('Open OBS once and click "Start Virtual Camera"; allow the camera extension in System Settings > '
         "Privacy & Security when asked; then stop it and close OBS."),
)
STEPS = {"Linux": LINUX, "Windows": WINDOWS, "Darwin": MACOS}
SYSTEM_NAMES = {"Linux": "Linux", "Windows": "Windows", "Darwin": "macOS"}


def setup_steps(system: str | None = None) -> tuple[Step, ...]:
    """The steps for ``system`` (platform.system()'s name; default: this machine)."""
    return STEPS.get(system or platform.system(), LINUX)


def commands_text(steps: tuple[Step, ...]) -> str:
    """Every command of ``steps``, one per line: what the Copy button puts on the clipboard."""
    return "\n".join(c for step in steps for c in step.commands)


def detail_of(message: str) -> str:
    """The sink's own reason, without the all-OS setup text it carries for the terminal."""
    marker = "Details: "
    return message.split(marker, 1)[1].strip() if marker in message else message.strip()


class VcamHelpDialog(QDialog):
    """Non-modal; ``set_message`` updates it when the failure repeats."""

    def __init__(self, message: str, *, check_setup: Callable[[], None] | None = None,
                 system: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        system = system or platform.system()
        self.steps = setup_steps(system)
        self.setWindowTitle("Virtual camera unavailable")
        layout = QVBoxLayout(self)
        heading = QLabel(f"<b>The virtual camera could not be started.</b> To set it up on "
                         f"{SYSTEM_NAMES.get(system, system)}:")
        heading.setWordWrap(True)
        layout.addWidget(heading)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.command_labels: list[QLabel] = []
        for number, step in enumerate(self.steps, 1):
            layout.addWidget(_wrapped(f"{number}. {step.text}"))
            for command in step.commands:
                label = QLabel(command)
                label.setFont(mono)
                label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                label.setStyleSheet("QLabel { background: palette(base); padding: 4px 8px; }")
                layout.addWidget(label)
                self.command_labels.append(label)
        layout.addWidget(_wrapped("Then switch the virtual camera on again (V)."))
        self.detail = _wrapped("")
        self.detail.setStyleSheet("QLabel { color: palette(placeholder-text); }")
        layout.addWidget(self.detail)
        self.set_message(message)
        layout.addLayout(self._buttons(check_setup))
        self.resize(max(640, self.sizeHint().width()), self.sizeHint().height())

    def set_message(self, message: str) -> None:
        self.detail.setText(f"Details: {detail_of(message)}")

    def copy_commands(self) -> None:
        QGuiApplication.clipboard().setText(commands_text(self.steps))
        self.copy_button.setText("Copied")

    def _buttons(self, check_setup: Callable[[], None] | None) -> QHBoxLayout:
        row = QHBoxLayout()
        self.copy_button = QPushButton("Copy commands")
        self.copy_button.setEnabled(bool(commands_text(self.steps)))
        self.copy_button.clicked.connect(self.copy_commands)
        row.addWidget(self.copy_button)
        self.check_button = QPushButton("Check my setup")
        self.check_button.setToolTip("What works on this machine and what to fix (personseg-live doctor)")
        self.check_button.setVisible(check_setup is not None)
        if check_setup is not None:
            self.check_button.clicked.connect(check_setup)
        row.addWidget(self.check_button)
        row.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        row.addWidget(close)
        return row


def _wrapped(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


__all__ = ["Step", "VcamHelpDialog", "commands_text", "detail_of", "setup_steps"]
