"""Plain-text log loader and its template mining (Drain3)."""

from .loader import TextLogLoader
from .templates import MinerSettings, make_miner, mine, new_templates, template_id

__all__ = ["MinerSettings", "TextLogLoader", "make_miner", "mine", "new_templates", "template_id"]
