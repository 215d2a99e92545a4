"""What the live pipeline tells its listener: a closed set of event kinds with typed payloads.

    def on_event(event: PipelineEvent) -> None:
        if event.kind is EventKind.MODEL_FAILED:
            fall_back_to(event.model)        # ModelRef(name, backend) of the model that failed

Listeners branch on ``kind``, never on the wording of ``message`` (that is for people and may change).
``EventKind`` is a ``StrEnum``, so ``event.kind == "error"`` still holds for older listeners. Kept free
of heavy imports so the GUI can use it without loading a model runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventKind(StrEnum):
    SOURCE_OPENED = "source_opened"  # message: the source's name
    SOURCE_LOST = "source_lost"  # a camera failed; retries follow
    SOURCE_RETRY = "source_retry"  # retry_in_s: the back-off before the next attempt
    SOURCE_ENDED = "source_ended"  # a file without loop reached its end
    SOURCE_FAILED = "source_failed"  # a file could not be opened; no picture until another source is chosen
    MODEL_LOADED = "model_loaded"  # model: now in use
    MODEL_FAILED = "model_failed"  # model: the one that failed; the previous model (if any) keeps running
    VCAM_ERROR = "vcam_error"  # the virtual camera could not open or stopped
    VCAM_NOTICE = "vcam_notice"  # the virtual camera shows something else than the preview (and why)
    ERROR = "error"  # anything else that went wrong; the pipeline keeps running
    STOPPED = "stopped"  # after stop(); stragglers: threads that did not end in time


@dataclass(frozen=True)
class ModelRef:
    name: str
    backend: str


@dataclass(frozen=True)
class PipelineEvent:
    kind: EventKind
    message: str = ""  # one line for a status bar or a log
    model: ModelRef | None = None  # MODEL_LOADED, MODEL_FAILED
    retry_in_s: float | None = None  # SOURCE_RETRY
    stragglers: tuple[str, ...] = ()  # STOPPED


__all__ = ["EventKind", "ModelRef", "PipelineEvent"]
