"""The decoder against hostile files: whatever the bytes, `decode` returns an image or raises a typed
`RenderError` (UnreadableImage for a broken file). Issue #13, case 2: a truncated animated GIF (IndexError
from Pillow's frame count) and a crafted HEIF (RuntimeError "Security limit exceeded" from pillow-heif)
escaped as untyped errors, and the job that held them was retried for ever."""

from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image

from render.decoding import decode
from render.errors import RenderError, UnreadableImage

MUTANTS_PER_FORMAT = 120


def _frames() -> list[Image.Image]:
    frames = []
    for n in range(3):
        frame = Image.new("RGB", (64, 48), (40 + 60 * n, 90, 160))
        frame.paste((250, 250, 250), (8 + 10 * n, 8, 30 + 10 * n, 30))
        frames.append(frame)
    return frames


def _seed(fmt: str) -> bytes:
    frames = _frames()
    out = io.BytesIO()
    if fmt == "GIF":
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    elif fmt == "WEBP":
        frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], quality=60)
    elif fmt == "HEIF":
        import pillow_heif

        pillow_heif.from_pillow(frames[0]).save(out, quality=50)
    elif fmt == "PNG":
        frames[0].convert("RGBA").save(out, "PNG")
    else:
        frames[0].save(out, "JPEG", quality=80, exif=Image.Exif())
    return out.getvalue()


def _mutants(data: bytes, rng: random.Random) -> list[bytes]:
    """Truncations, flipped bytes, overwritten runs, inserted and deleted runs, and huge 32-bit fields."""
    found = []
    for _ in range(MUTANTS_PER_FORMAT):
        mutant = bytearray(data)
        kind = rng.randrange(6)
        at = rng.randrange(8, len(mutant))  # keep the magic bytes, so the real decoder is reached
        if kind == 0:
            del mutant[at:]
        elif kind == 1:
            for _ in range(rng.randint(1, 8)):
                mutant[rng.randrange(8, len(mutant))] ^= 1 << rng.randrange(8)
        elif kind == 2:
            mutant[at : at + 16] = bytes(rng.randrange(256) for _ in range(16))
        elif kind == 3:
            mutant[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif kind == 4:
            del mutant[at : at + rng.randint(1, 64)]
        else:
            mutant[at : at + 4] = struct.pack(">I", rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 100_000]))
        found.append(bytes(mutant))
    return found


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "HEIF"])
def test_any_mutated_file_decodes_or_raises_a_typed_error(fmt: str) -> None:
    seed = _seed(fmt)
    assert decode(seed).size == (64, 48)
    rng = random.Random(f"decode-fuzz-{fmt}")  # noqa: S311 (reproducible mutations, not secrets)
    for n, mutant in enumerate(_mutants(seed, rng)):
        try:
            image = decode(mutant)
        except RenderError:
            continue
        except Exception as error:  # pragma: no cover - the failure this test exists for
            pytest.fail(f"{fmt} mutant {n} ({len(mutant)} bytes) raised {type(error).__name__}: {error}")
        assert image.mode in ("RGB", "RGBA") and min(image.size) > 0


def test_truncated_animated_gif_frame_count_is_unreadable() -> None:
    """Regression: Pillow's n_frames raised IndexError on a GIF cut inside its second frame."""
    gif = _seed("GIF")
    refused = 0
    for cut in range(60, len(gif)):
        try:
            decode(gif[:cut])  # a cut after the first frame may still decode: only the first frame is used
        except RenderError:
            refused += 1
    assert refused > 0
    second_frame = gif.index(b"\x21\xf9", gif.index(b"\x2c") + 1)  # the graphic control block after frame 1
    with pytest.raises(UnreadableImage):
        decode(gif[: second_frame + 3])


@pytest.mark.parametrize("side", [100_000, 0x7FFFFFFF])
def test_heif_past_libheif_security_limit_is_unreadable(side: int) -> None:
    """Regression: pillow-heif raised RuntimeError("Security limit exceeded") for a forged image size."""
    heif = bytearray(_seed("HEIF"))
    at = heif.find(b"ispe")
    assert at > 0
    heif[at + 8 : at + 16] = struct.pack(">II", side, side)
    with pytest.raises((UnreadableImage, RenderError)):
        decode(bytes(heif))
