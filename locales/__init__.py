"""The Fluent catalogs (`en/`, `bn/`), shipped as package data so an installed wheel carries them."""

from pathlib import Path

LOCALES_DIR = Path(__file__).resolve().parent
