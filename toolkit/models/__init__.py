"""Models: the embedded offline defaults, real providers behind one name, and one chain for every call.

    >>> ModelRef.parse("openai:gpt-4o-mini")
    ModelRef(provider='openai', name='gpt-4o-mini')

Not here: prices (toolkit.cost) and choosing a model per question (routing).
"""

from .calls import CALL_KINDS, ChatMessage, Middleware, ModelCall, ModelClient, ModelReply
from .extractive import ExtractiveLLM
from .local import LocalLLM
from .providers import (
    ModelRef,
    embed_model_id,
    embedded_embed_path,
    embedded_llm_path,
    make_embed_model,
    make_llm,
    model_name,
)
from .server import free_port, gemma_gguf, serve_gguf
from .usage import Usage, count_tokens, usage_from_response

__all__ = [
    "ModelRef",
    "make_llm",
    "make_embed_model",
    "model_name",
    "embed_model_id",
    "embedded_llm_path",
    "embedded_embed_path",
    "Usage",
    "count_tokens",
    "usage_from_response",
    "ExtractiveLLM",
    "LocalLLM",
    "ModelCall",
    "ModelReply",
    "ModelClient",
    "Middleware",
    "CALL_KINDS",
    "serve_gguf",
    "gemma_gguf",
    "free_port",
    "ChatMessage",
]
