"""OTel GenAI semantic conventions: deprecated-name aliases, span kinds, severities."""

from __future__ import annotations

from typing import Any

SEMCONV_TARGET = "1.41"

# deprecated or vendor name -> (current name, semconv version that made the change / source)
ALIASES: dict[str, tuple[str, str]] = {
    "gen_ai.system": ("gen_ai.provider.name", "1.37"),
    "gen_ai.usage.prompt_tokens": ("gen_ai.usage.input_tokens", "1.27"),
    "gen_ai.usage.completion_tokens": ("gen_ai.usage.output_tokens", "1.27"),
    "gen_ai.openai.request.seed": ("gen_ai.request.seed", "1.28"),
    "gen_ai.openai.request.response_format": ("gen_ai.output.type", "1.30"),
    "gen_ai.openai.response.service_tier": ("openai.response.service_tier", "1.37"),
    # Vercel AI SDK (`ai.*`) names for the same facts
    "ai.model.provider": ("gen_ai.provider.name", "vercel-ai"),
    "ai.model.id": ("gen_ai.request.model", "vercel-ai"),
    "ai.response.model": ("gen_ai.response.model", "vercel-ai"),
    "ai.response.id": ("gen_ai.response.id", "vercel-ai"),
    "ai.usage.promptTokens": ("gen_ai.usage.input_tokens", "vercel-ai"),
    "ai.usage.completionTokens": ("gen_ai.usage.output_tokens", "vercel-ai"),
    "ai.usage.inputTokens": ("gen_ai.usage.input_tokens", "vercel-ai"),
    "ai.usage.outputTokens": ("gen_ai.usage.output_tokens", "vercel-ai"),
    "ai.usage.cachedInputTokens": ("gen_ai.usage.cache_read.input_tokens", "vercel-ai"),
    "ai.usage.reasoningTokens": ("gen_ai.usage.reasoning.output_tokens", "vercel-ai"),
    "ai.usage.tokens": ("gen_ai.usage.input_tokens", "vercel-ai"),  # embeddings
    "ai.toolCall.name": ("gen_ai.tool.name", "vercel-ai"),
    "ai.toolCall.id": ("gen_ai.tool.call.id", "vercel-ai"),
    "ai.toolCall.args": ("gen_ai.tool.call.arguments", "vercel-ai"),
    "ai.toolCall.result": ("gen_ai.tool.call.result", "vercel-ai"),
}

# Vercel AI SDK operation ids -> gen_ai.operation.name (only the spans that call the provider)
VERCEL_OPERATIONS = {
    "ai.generateText.doGenerate": "chat",
    "ai.streamText.doStream": "chat",
    "ai.generateObject.doGenerate": "chat",
    "ai.streamObject.doStream": "chat",
    "ai.embed.doEmbed": "embeddings",
    "ai.embedMany.doEmbed": "embeddings",
    "ai.toolCall": "execute_tool",
}

LLM_OPERATIONS = {"chat", "generate_content", "text_completion", "embeddings"}

# gen_ai usage attribute -> metric name (the same names the transcript loaders use)
USAGE_METRICS = {
    "gen_ai.usage.input_tokens": "input_tokens",
    "gen_ai.usage.output_tokens": "output_tokens",
    "gen_ai.usage.cache_read.input_tokens": "cache_read_tokens",
    "gen_ai.usage.cache_creation.input_tokens": "cache_creation_tokens",
    "gen_ai.usage.reasoning.output_tokens": "reasoning_tokens",
}


def normalize(attrs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """gen_ai.* attributes under their current names, and which deprecated names were mapped.

    A current name present in the record wins over a deprecated alias of it.
    """
    out = {k: v for k, v in attrs.items() if k.startswith("gen_ai.")}
    mapped: dict[str, str] = {}
    for old, (new, _since) in ALIASES.items():
        if old in attrs and attrs[old] is not None:
            mapped[old] = new
            out.pop(old, None) if old.startswith("gen_ai.") else None
            out.setdefault(new, attrs[old])
    if "gen_ai.operation.name" not in out:
        op = VERCEL_OPERATIONS.get(str(attrs.get("ai.operationId") or ""))
        if op:
            out["gen_ai.operation.name"] = op
    return out, mapped


def span_kind(gen_ai: dict[str, Any]) -> str:
    """llm | tool | span, from gen_ai.operation.name."""
    op = gen_ai.get("gen_ai.operation.name")
    if not isinstance(op, str):
        return "span"
    if op in LLM_OPERATIONS:
        return "llm"
    if op == "execute_tool":
        return "tool"
    return "span"


SEVERITY_BY_NUMBER = ((4, "debug"), (8, "debug"), (12, "info"), (16, "warning"), (20, "error"))


def severity_of(number: Any, text: Any) -> str:
    """OTel SeverityNumber (1-24) or SeverityText to the canonical severity."""
    if isinstance(number, int | float) and number > 0:
        for top, name in SEVERITY_BY_NUMBER:
            if number <= top:
                return name
        return "critical"
    word = str(text or "").lower()
    for key, name in (("fatal", "critical"), ("crit", "critical"), ("err", "error"),
                      ("warn", "warning"), ("debug", "debug"), ("trace", "debug")):
        if key in word:
            return name
    return "info"
