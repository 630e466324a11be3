"""Generic structured-log loaders (JSON lines, CSV) with an optional TOML field mapping."""

from .fields import MAPPING_ENV, MAPPING_FILE
from .loader import CsvLogLoader, JsonlLogLoader

__all__ = ["MAPPING_ENV", "MAPPING_FILE", "CsvLogLoader", "JsonlLogLoader"]
