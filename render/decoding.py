"""Safe decoding of untrusted photos into clean RGB/RGBA images without any metadata.

The pixel cap is checked from the header, before any pixel is decoded; Pillow's decompression-bomb
warning is an error here; truncated files are rejected; only the first frame of an animation is used.
Any other failure while opening, counting frames, loading, transposing or converting (Pillow raises
IndexError on a truncated GIF's frame count, pillow-heif RuntimeError "Security limit exceeded" on a
crafted HEIF, and so on) is an `UnreadableImage`: a hostile file is that photo's failure, never a crash.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from render.errors import ImageTooLarge, ImageTooSmall, RenderError, UnreadableImage, UnsupportedFormat

MAX_PIXELS = 40_000_000
MAX_BYTES = 60 * 1024 * 1024
MIN_SIDE = 16

_ACCEPTED = ("JPEG", "PNG", "WEBP", "GIF", "HEIF")
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif")


def sniff(data: bytes) -> str | None:
    """The container from the magic bytes: one of _ACCEPTED, "other" for known-but-refused, None."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIF"
    refused = (b"BM", b"II*\x00", b"MM\x00*", b"8BPS", b"%PDF", b"\x00\x00\x01\x00", b"qoif", b"\xff\x0a")
    if head.startswith(refused) or head[4:8] == b"ftyp":
        return "other"
    return None


def decode(data: bytes, *, max_side: int | None = None) -> Image.Image:
    """Decode `data` into an upright RGB or RGBA image with no metadata.

    `max_side` lets JPEG decode at a reduced DCT scale (fast) and caps the longest side of the result.
    """
    if len(data) > MAX_BYTES:
        raise ImageTooLarge(f"{len(data)} bytes")
    kind = sniff(data)
    if kind is None:
        raise UnreadableImage("not an image")
    if kind == "other":
        raise UnsupportedFormat("format not accepted")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = _open_and_load(data, kind, max_side)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise ImageTooLarge(str(exc)) from None
        except UnidentifiedImageError as exc:
            raise UnreadableImage(str(exc)) from None
        except RenderError:
            raise
        except MemoryError as exc:
            raise ImageTooLarge(f"MemoryError: {exc}") from None
        except Exception as exc:  # every decoder failure, whatever its type: see the module's docstring
            raise UnreadableImage(f"{type(exc).__name__}: {exc}") from None
        try:
            if max_side is not None and max(image.size) > max_side:
                image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
            return _strip(image)
        except Exception as exc:
            raise UnreadableImage(f"{type(exc).__name__}: {exc}") from None


def _open_and_load(data: bytes, kind: str, max_side: int | None) -> Image.Image:
    if kind == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    formats = ("HEIF", "AVIF") if kind == "HEIF" else (kind,)
    image = Image.open(io.BytesIO(data), formats=[f for f in formats if f in Image.OPEN or f == kind])
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(f"{width}x{height}")
    if min(width, height) < MIN_SIDE:
        raise ImageTooSmall(f"{width}x{height}")
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    jpeg = kind == "JPEG" and image.mode in ("RGB", "L", "CMYK")
    if jpeg and max_side is not None and max(width, height) > max_side:
        # draft keeps the result at least this large; thumbnail() brings it down to max_side after.
        want = max_side * 0.75 / max(width, height)
        image.draft(image.mode, (max(1, round(width * want)), max(1, round(height * want))))
    image.load()  # truncated data raises here: LOAD_TRUNCATED_IMAGES stays False
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise UnreadableImage("refusing to run with LOAD_TRUNCATED_IMAGES set")
    upright: Image.Image = ImageOps.exif_transpose(image) or image
    return _to_rgb(upright)


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _wide_gray_to_rgb(image)
    if mode == "P":
        has_alpha = "transparency" in image.info or image.palette is not None and image.palette.mode == "RGBA"
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode in ("LA", "La", "PA", "RGBa"):
        return image.convert("RGBA")
    if mode == "1":
        return image.convert("L").convert("RGB")
    return image.convert("RGB")


def _wide_gray_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit (or 32-bit) grayscale scaled into 8 bits, never clipped."""
    arr = np.asarray(image).astype(np.float64)
    if image.mode == "F":
        peak = float(arr.max()) if arr.size and arr.max() > 1.0 else 1.0
    elif image.mode == "I" and arr.size and arr.max() > 65535:
        peak = float(arr.max())
    else:
        peak = 65535.0
    gray = np.clip(np.rint(arr * (255.0 / peak)), 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2), "RGB")


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken embedded profile: the plain conversion below is still correct enough
    return image.convert("RGB")


def _strip(image: Image.Image) -> Image.Image:
    """A fresh image holding only pixels: no EXIF, XMP, GPS, ICC or comments can travel further."""
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    clean.info = {}
    if clean.mode == "RGBA":
        alpha = clean.getchannel("A")
        lo, _ = alpha.getextrema()
        if lo == 255:
            clean = clean.convert("RGB")
            clean.info = {}
    return clean
