"""`python -m bot render IN... --out DIR [--style S] [--size Z]`: render photos from disk, with a
progress bar on stderr. torch and the render core are imported only when the command runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.errors import OperatorError

_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".gif", ".avif"}


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "render",
        help="render product photos (files or folders) into studio images",
        description="Remove the background of each photo and compose it in the chosen style and size.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="photo files or folders of photos")
    parser.add_argument("--out", required=True, type=Path, help="folder for the results (created if missing)")
    parser.add_argument("--style", default="white", help="white, transparent, color:<name|hex>, gradient, studio")
    parser.add_argument("--size", default="original", help="original, square, portrait, story, marketplace")
    parser.set_defaults(func=run)


def _photos(inputs: list[Path]) -> list[Path]:
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found.extend(sorted(p for p in item.iterdir() if p.suffix.lower() in _SUFFIXES and p.is_file()))
        elif item.is_file():
            found.append(item)
        else:
            raise OperatorError(f"{item}: no such file or folder")
    return found


def _bar(done: int, total: int, name: str) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name[:40]:<40}")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    import render
    from bot.settings import load_settings

    if not render.is_valid_style(args.style):
        raise OperatorError(f"unknown style {args.style!r}; styles: {', '.join(render.STYLES)}, color:#RRGGBB")
    if not render.is_valid_size(args.size):
        raise OperatorError(f"unknown size {args.size!r}; sizes: {', '.join(render.SIZES)}")
    photos = _photos(list(args.inputs))
    if not photos:
        raise OperatorError("no photos found in the given inputs")
    settings = load_settings()
    try:
        segmenter = render.load_segmenter(settings.segmenter, settings.effective_models_dir, settings.segmenter_weights)
    except render.WeightsError as exc:
        raise OperatorError(f"segmentation weights: {exc.detail} (run `python -m bot models fetch`)") from None
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for index, photo in enumerate(photos):
        _bar(index, len(photos), photo.name)
        try:
            outputs = render.render(photo.read_bytes(), args.style, args.size, segmenter=segmenter)
        except render.RenderError as exc:
            failures += 1
            sys.stderr.write(f"\n{photo}: {exc.code}\n")
            continue
        for output in outputs:
            (args.out / f"{photo.stem}-{output.name}").write_bytes(output.data)
    _bar(len(photos), len(photos), "done")
    sys.stderr.write("\n")
    return 1 if failures else 0
