"""OpenTelemetry loader (OTLP/JSON, JS SDK span dumps) and the GenAI semantic-convention tables."""

from .loader import OtelLoader
from .semconv import ALIASES, normalize

__all__ = ["ALIASES", "OtelLoader", "normalize"]
