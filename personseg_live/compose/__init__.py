"""Alpha matte from the model's probability (matte) and background replacement (effects)."""

from .effects import BackgroundError, Compositor
from .matte import Matte

__all__ = ["BackgroundError", "Compositor", "Matte"]
