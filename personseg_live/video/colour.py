"""Colour range and matrix of a video, read from the input and honoured in every conversion.

    colour = Colour.of_frame(frame)            # range (tv/pc), matrix (BT.601/709), tags to copy
    bgr = colour.to_bgr(frame)                 # a decoded PyAV frame -> BGR as a player shows it
    i420 = colour.to_i420(frame)               # -> limited-range I420 in the input's matrix
    i420 = colour.bgr_to_i420(bgr)             # BGR -> I420 in the same matrix (backgrounds, output)
    colour.tag(stream)                         # the output says what it holds

The offline path keeps the input's own YUV where it can (no conversion is the only exact one) and
writes limited range, the only one every player and browser shows right. A full-range
(yuvj420p / "pc") input is squeezed into limited range by a lookup table, not passed through: an
output tagged "tv" with full-range values lost 28 % of its channel values to clipping at 255.
An untagged matrix is BT.601, as FFmpeg's swscale and OpenCV assume; the output stays untagged
then, so a player that guesses differently guesses the same for input and output.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# FFmpeg's AVColorSpace / AVColorRange numbers (what PyAV's frame and codec context attributes hold).
BT709, UNSPECIFIED, BT470BG, SMPTE170M = 1, 2, 5, 6
RANGE_TV, RANGE_PC = 1, 2


def _rgb_to_yuv(kr: float, kb: float) -> np.ndarray:
    """3x4 matrix: limited-range Y'CbCr from BGR (0..255), offsets in the last column."""
    kg = 1 - kr - kb
    luma = np.array([kb, kg, kr])  # BGR order
    m = np.stack([luma * 219 / 255,
                  (np.array([1, 0, 0]) - luma) / (2 * (1 - kb)) * 224 / 255,
                  (np.array([0, 0, 1]) - luma) / (2 * (1 - kr)) * 224 / 255])
    return np.hstack([m, np.array([[16], [128], [128]])]).astype(np.float32)


_TO_YUV = {False: _rgb_to_yuv(0.299, 0.114), True: _rgb_to_yuv(0.2126, 0.0722)}
#: BGR decoded with BT.601 -> the BGR a BT.709 decode gives (same YUV; offsets cancel).
_BT601_TO_BT709 = (np.linalg.inv(_TO_YUV[True][:, :3]) @ _TO_YUV[False][:, :3]).astype(np.float32)
# Full range -> limited range, per plane, rounded: luma 0..255 -> 16..235, chroma about 128 -> 16..240.
_LUMA_TV = np.clip(np.rint(16 + np.arange(256) * 219 / 255), 0, 255).astype(np.uint8)
_CHROMA_TV = np.clip(np.rint(128 + (np.arange(256) - 128) * 224 / 255), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Colour:
    full_range: bool = False
    bt709: bool = False  # the matrix; False: BT.601 (also when untagged)
    colorspace: int = UNSPECIFIED  # tags copied to the output
    primaries: int = UNSPECIFIED
    trc: int = UNSPECIFIED

    @classmethod
    def of_frame(cls, frame) -> "Colour":
        full = frame.color_range == RANGE_PC or frame.format.name.startswith("yuvj")
        return cls(full, frame.colorspace == BT709, int(frame.colorspace), int(frame.color_primaries), int(frame.color_trc))

    @property
    def plain(self) -> bool:
        """Limited-range BT.601: what OpenCV's fast converters assume."""
        return not self.full_range and not self.bt709

    def to_bgr(self, frame) -> np.ndarray:
        if self.plain and frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
            # OpenCV's SIMD converter: 1 ms at 720p where swscale's bgr24 path costs ~3 ms; same maths.
            return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
        # swscale takes an unspecified range as limited: say the frame's own range and matrix.
        return frame.reformat(
            format="bgr24", src_colorspace="itu709" if self.bt709 else "itu601",
            src_color_range="JPEG" if self.full_range else "MPEG", dst_color_range="JPEG",
        ).to_ndarray()

    def to_i420(self, frame) -> np.ndarray:
        """Limited-range I420 (h*3/2, w) in the frame's own matrix: a copy for yuv420p."""
        if frame.format.name not in ("yuv420p", "yuvj420p"):
            # 10-bit, 4:2:2, 4:4:4...: one swscale pass straight to limited range, matrix kept.
            cs = "itu709" if self.bt709 else "itu601"
            frame = frame.reformat(format="yuv420p", src_colorspace=cs, dst_colorspace=cs,
                                   src_color_range="JPEG" if self.full_range else "MPEG", dst_color_range="MPEG")
            return frame.to_ndarray()
        image = frame.to_ndarray()
        if self.full_range:
            luma = image.shape[1] * (image.shape[0] * 2 // 3)
            flat = image.reshape(-1)
            flat[:luma] = cv2.LUT(flat[:luma], _LUMA_TV).reshape(-1)
            flat[luma:] = cv2.LUT(flat[luma:], _CHROMA_TV).reshape(-1)
        return image

    def bgr_to_i420(self, bgr: np.ndarray) -> np.ndarray:
        """BGR (even size) -> limited-range I420 in this matrix."""
        if not self.bt709:
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)  # SIMD, BT.601
        h, w = bgr.shape[:2]
        yuv = cv2.transform(bgr, _TO_YUV[True])  # saturating uint8
        out = np.empty((h * 3 // 2, w), np.uint8)
        flat = out.reshape(-1)
        flat[: h * w] = yuv[..., 0].reshape(-1)
        c = (h // 2) * (w // 2)
        for k in (1, 2):
            flat[h * w + (k - 1) * c : h * w + k * c] = cv2.resize(
                yuv[..., k], (w // 2, h // 2), interpolation=cv2.INTER_AREA).reshape(-1)
        return out

    def from_bt601(self, bgr: np.ndarray) -> np.ndarray:
        """A picture OpenCV decoded as BT.601 (I420 -> BGR) as this matrix shows it."""
        return cv2.transform(bgr, _BT601_TO_BT709) if self.bt709 else bgr

    def tag(self, stream) -> None:
        """Label an output video stream: limited range; the input's matrix, primaries and transfer."""
        cc = stream.codec_context
        cc.color_range = RANGE_TV
        cc.colorspace, cc.color_primaries, cc.color_trc = self.colorspace, self.primaries, self.trc

    def tag_frame(self, vf) -> None:
        vf.color_range = RANGE_TV
        vf.colorspace = self.colorspace


#: What OpenCV-made BGR frames are written as when the input says nothing (tests, live recording).
PLAIN = Colour()

__all__ = ["Colour", "PLAIN"]
