"""Typed render errors. Each carries a stable `code`; the chat side maps codes to localized messages.

No user-facing sentences live here: `detail` is for logs and operators only.
"""

from __future__ import annotations


class RenderError(Exception):
    """Base of every error the render core raises on purpose."""

    code = "render_error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail


class UnreadableImage(RenderError):
    """Not an image, a truncated file, or a decoder failure."""

    code = "unreadable"


class UnsupportedFormat(RenderError):
    """A real image, but in a format the core does not accept (TIFF, BMP, PSD, PDF...)."""

    code = "unsupported"


class ImageTooLarge(RenderError):
    """Too many pixels or too many bytes (decompression bombs included)."""

    code = "too_large"


class ImageTooSmall(RenderError):
    """Too few pixels to find a product in."""

    code = "too_small"


class SegmentationFailed(RenderError):
    """No product could be separated from the background."""

    code = "segmentation_failed"


class InvalidOption(RenderError):
    """An unknown style or size name."""

    code = "invalid_option"


class WeightsError(RenderError):
    """Segmentation weights missing, corrupt, of the wrong shape or with the wrong checksum."""

    code = "weights_invalid"


class WeightsUnavailable(WeightsError):
    """The weights could not be obtained (registry unreachable, download failed)."""

    code = "weights_unavailable"
