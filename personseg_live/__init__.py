"""personseg-live: cut the person out of a live webcam picture."""

from .model.segmenter import Segmenter

__all__ = ["Segmenter"]
__version__ = "0.1.0"
