"""Compositing a cutout onto a backdrop: white (marketplace), transparent, plain colours, gradient,
studio. Pure Pillow: no torch. The product is centred at ~85% of the limiting side of the canvas."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from render.cutouts import Cutout
from render.styles import Style

FILL = 0.85
STUDIO_FILL = 0.72
MARGIN = 0.04  # transparent/original: space kept around the product's crop
MAX_SIDE = 2048
_SHADOW = (40, 40, 45)


def canvas_for(cutout: Cutout, size: tuple[int, int] | None) -> tuple[int, int]:
    if size is not None:
        return size
    w, h = cutout.canvas
    scale = min(1.0, MAX_SIDE / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _target(product: Image.Image, canvas: tuple[int, int], fill: float) -> tuple[int, int]:
    w, h = product.size
    scale = fill * min(canvas[0] / w, canvas[1] / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _premultiplied(product: Image.Image, target: tuple[int, int]) -> np.ndarray:
    """The product's pixels with colour premultiplied by alpha (so that no colour of the cleared
    background bleeds into the edges), resized to `target`: bicubic when enlarging, pixel-area
    averaging when reducing. OpenCV, uint8 H x W x 4: several times faster than Pillow's Lanczos
    (a 12-MP render spent 35-60 ms there), and as sharp to the eye at these scales."""
    import cv2

    pixels = np.asarray(product.convert("RGBa"))
    if target == product.size:
        return pixels
    enlarging = target[0] * target[1] > product.size[0] * product.size[1]
    mode = cv2.INTER_CUBIC if enlarging else cv2.INTER_AREA
    return np.asarray(cv2.resize(pixels, target, interpolation=mode))


def _fit(product: Image.Image, canvas: tuple[int, int], fill: float) -> Image.Image:
    target = _target(product, canvas, fill)
    if target == product.size:
        return product.copy()
    scaled = _premultiplied(product, target)
    return Image.frombuffer("RGBa", target, scaled.tobytes()).convert("RGBA")


def compose(cutout: Cutout, style: Style, size: tuple[int, int] | None) -> Image.Image:
    """The styled image: RGB for opaque styles, RGBA for `transparent`."""
    if style.kind == "transparent":
        return _transparent(cutout, size)
    canvas = canvas_for(cutout, size)
    if style.kind == "studio":
        return _studio(cutout, canvas)
    product = _premultiplied(cutout.image, _target(cutout.image, canvas, FILL))
    height, width = product.shape[:2]
    x = (canvas[0] - width) // 2
    y = (canvas[1] - height) // 2
    if style.kind == "gradient":
        pixels = np.array(_vertical_gradient(canvas, (250, 250, 251), (216, 223, 233)))
    else:
        colour = style.color if style.kind == "color" else (255, 255, 255)
        pixels = np.empty((canvas[1], canvas[0], 3), np.uint8)
        pixels[0] = colour
        pixels[1:] = pixels[0]  # row by row: numpy broadcasts a whole row far faster than a colour
    alpha = Image.frombuffer("L", (width, height), np.ascontiguousarray(product[:, :, 3]).tobytes())
    _darken_pixels(pixels, _contact_shadow(canvas, alpha, (x, y)))
    _over(pixels, product, (x, y))
    return Image.fromarray(pixels, "RGB")


def _over(pixels: np.ndarray, product: np.ndarray, at: tuple[int, int]) -> None:
    """The premultiplied product laid over the backdrop's pixels, in place: product + backdrop *
    (1 - alpha) on the product's box (what Pillow's paste with a mask gives, to within a level)."""
    import cv2

    x, y = at
    height, width = product.shape[:2]
    region = pixels[y : y + height, x : x + width]
    clear = 255 - product[:, :, 3]
    behind = cv2.multiply(region, cv2.merge([clear, clear, clear]), scale=1.0 / 255.0)
    region[...] = cv2.add(behind, cv2.cvtColor(product, cv2.COLOR_RGBA2RGB))


def _darken_pixels(pixels: np.ndarray, shadow: tuple[Image.Image, tuple[int, int]]) -> None:
    """`_darken` on an array, in place: the shadow's box blended towards its colour by the mask."""
    import cv2

    mask, (x, y) = shadow
    weight = np.asarray(mask)
    region = pixels[y : y + weight.shape[0], x : x + weight.shape[1]]
    kept = cv2.multiply(region, cv2.merge([255 - weight] * 3), scale=1.0 / 255.0)
    shade = cv2.multiply(cv2.merge([weight] * 3), (*_SHADOW, 0), scale=1.0 / 255.0)  # type: ignore[call-overload]
    region[...] = cv2.add(kept, shade)


def _transparent(cutout: Cutout, size: tuple[int, int] | None) -> Image.Image:
    if size is None:
        product = cutout.image
        cap = MAX_SIDE / (1 + 2 * MARGIN)
        if max(product.size) > cap:
            product = _fit(product, (round(cap), round(cap)), 1.0)
        pad = round(MARGIN * max(product.size))
        canvas = (product.width + 2 * pad, product.height + 2 * pad)
        out = Image.new("RGBA", canvas, (0, 0, 0, 0))
        out.paste(product, (pad, pad))
        return out
    product = _fit(cutout.image, size, FILL)
    out = Image.new("RGBA", size, (0, 0, 0, 0))
    out.paste(product, ((size[0] - product.width) // 2, (size[1] - product.height) // 2))
    return out


def _contact_shadow(
    canvas: tuple[int, int], alpha: Image.Image, at: tuple[int, int]
) -> tuple[Image.Image, tuple[int, int]]:
    """A soft ellipse under the product's base plus a flattened silhouette: the 'resting on' cue.

    Drawn and blurred only in the part of the canvas it can reach (its shapes plus the blur's extent,
    clipped to the canvas): the same pixels as blurring the whole canvas, which is zero elsewhere, at a
    small part of the cost. Returns the mask and where its top-left corner sits on the canvas."""
    w, h = alpha.size
    x, y = at
    base = y + h
    ry = max(2, round(0.028 * h))
    flat_h = max(1, round(0.06 * h))
    radius = max(1.5, 0.018 * h)
    reach = 4 * math.ceil(radius) + 4  # Pillow's three box passes spread a blur about 3 radii
    top, bottom = base - max(ry, flat_h), base + max(ry, flat_h)
    box = (max(0, x - reach), max(0, top - reach), min(canvas[0], x + w + reach), min(canvas[1], bottom + reach))
    ox, oy = box[0], box[1]
    mask = Image.new("L", (box[2] - ox, box[3] - oy), 0)
    ellipse = (x + 0.1 * w - ox, base - ry - oy, x + 0.9 * w - ox, base + ry - oy)
    ImageDraw.Draw(mask).ellipse(ellipse, fill=round(255 * 0.30))
    flat = alpha.resize((w, flat_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    flat = flat.point(lambda v: round(v * 0.22))
    mask.paste(flat, (x - ox, base - flat.height // 2 - oy), flat)
    if radius < 8:
        return mask.filter(ImageFilter.GaussianBlur(radius)), (ox, oy)
    # A wide blur loses nothing at half the resolution (the shadow is smooth): a 12-MP render's
    # shadow 5 -> 1.5 ms.
    half = mask.reduce(2).filter(ImageFilter.GaussianBlur(radius / 2))
    return half.resize(mask.size, Image.Resampling.BILINEAR), (ox, oy)


def _darken(image: Image.Image, shadow: tuple[Image.Image, tuple[int, int]]) -> None:
    mask, at = shadow
    image.paste(Image.new("RGB", mask.size, _SHADOW), at, mask)


def _vertical_gradient(canvas: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    ramp = Image.linear_gradient("L").resize(canvas, Image.Resampling.BILINEAR)
    return ImageOps.colorize(ramp, black=top, white=bottom)


def _studio(cutout: Cutout, canvas: tuple[int, int]) -> Image.Image:
    """A seamless backdrop: wall fading into a lighter floor, the product standing on it with a
    contact shadow and a faint reflection."""
    width, height = canvas
    product = _fit(cutout.image, canvas, STUDIO_FILL)
    x = (width - product.width) // 2
    base = round(height * 0.86)
    y = base - product.height
    if y < round(height * 0.04):
        y = round(height * 0.04)
        base = y + product.height
    wall = _vertical_gradient(canvas, (222, 224, 228), (247, 247, 248))
    glow = Image.radial_gradient("L").resize(canvas, Image.Resampling.BILINEAR)
    backdrop = Image.composite(wall, Image.new("RGB", canvas, (205, 207, 212)), ImageOps.invert(glow))
    reflection = ImageOps.flip(product)
    fade = Image.linear_gradient("L").resize(reflection.size, Image.Resampling.BILINEAR)
    fade = ImageOps.invert(fade).point(lambda v: round(v * 0.22))
    backdrop.paste(reflection.convert("RGB"), (x, base), ImageChops.multiply(reflection.getchannel("A"), fade))
    _darken(backdrop, _contact_shadow(canvas, product.getchannel("A"), (x, y)))
    backdrop.paste(product.convert("RGB"), (x, y), product.getchannel("A"))
    return backdrop
