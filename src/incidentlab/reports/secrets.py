"""The reports' name for the one redactor (`incidentlab.redaction`), kept for existing imports.

There is no second pattern set: reports, notebooks, exports and the CLI mask the same values.
"""

from __future__ import annotations

from ..redaction import (
    MASK,
    Redactor,
    clean_frame,
    clean_text,
    escape_controls,
    looks_secret,
    make_redactor,
    mask_params,
    transform_frame,
)

__all__ = ["MASK", "Redactor", "clean_frame", "clean_text", "escape_controls", "looks_secret",
           "make_redactor", "mask_params", "transform_frame"]
