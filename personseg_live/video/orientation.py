"""The display orientation of a video: phones store the sensor's picture and tag how to turn it.

    orient = Orientation.of_frame(frame)        # from the frame's display matrix (identity when none)
    upright = orient.apply(bgr)                 # BGR (h, w, 3) -> the picture as players show it
    upright_i420 = orient.apply_i420(i420)      # the same for an I420 buffer (even sizes)

Every frame is turned upright on reading: the model segments a picture the right way up (a
sideways person costs it ~0.1 IoU) and the output plays like the input in every player without
relying on a tag that some players and editors ignore.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Orientation:
    """Transpose first, then mirror: the eight orientations a display matrix can express."""

    transpose: bool = False
    flip_x: bool = False  # mirror left-right (after the transpose)
    flip_y: bool = False  # mirror top-bottom (after the transpose)

    @property
    def identity(self) -> bool:
        return not (self.transpose or self.flip_x or self.flip_y)

    @classmethod
    def of_frame(cls, frame) -> "Orientation":
        """From a decoded PyAV frame's DISPLAYMATRIX side data."""
        from av.sidedata.sidedata import Type

        data = frame.side_data.get(Type.DISPLAYMATRIX)
        if data is None:
            return cls()
        return cls.of_matrix(np.frombuffer(bytes(data), np.int32)[:9])

    @classmethod
    def of_matrix(cls, m: np.ndarray) -> "Orientation":
        """FFmpeg's display matrix maps a stored pixel (x, y) to x' = a·x + c·y, y' = b·x + d·y
        (a, b, c, d = m[0], m[1], m[3], m[4]); a rotation that is not a multiple of 90° is
        rounded to the nearest one (no player shows those either)."""
        a, b, c, d = (float(m[i]) for i in (0, 1, 3, 4))
        if abs(a) + abs(d) >= abs(b) + abs(c):  # x' follows x: no transpose
            return cls(False, a < 0, d < 0)
        return cls(True, c < 0, b < 0)  # x' follows y

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The displayed (width, height) of a stored picture of this size."""
        return (height, width) if self.transpose else (width, height)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """A plane or a BGR(A) image turned upright (a new array; the input when identity)."""
        if self.identity:
            return image
        out = cv2.transpose(image) if self.transpose else image
        if self.flip_x and self.flip_y:
            return cv2.flip(out, -1)
        if self.flip_x:
            return cv2.flip(out, 1)
        if self.flip_y:
            return cv2.flip(out, 0)
        return np.ascontiguousarray(out)

    def apply_i420(self, frame: np.ndarray) -> np.ndarray:
        """An I420 buffer ((h*3/2, w), even h and w) turned upright, plane by plane."""
        if self.identity:
            return frame
        from ..compose.effects import i420_planes

        h, w = frame.shape[0] * 2 // 3, frame.shape[1]
        ow, oh = self.size(w, h)
        out = np.empty((oh * 3 // 2, ow), np.uint8)
        for src, dst in zip(i420_planes(frame), i420_planes(out)):
            dst[...] = self.apply(src)
        return out


__all__ = ["Orientation"]
