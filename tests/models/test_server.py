"""llama_cpp.server on loopback, reached through the real OpenAI-compatible client in both chat
and completion mode; a taken port is refused before the server starts."""

import socket

import pytest

from toolkit import load_settings
from toolkit.errors import ConfigError
from toolkit.models import embedded_llm_path, make_llm
from toolkit.models.server import free_port, gemma_gguf, serve_gguf
from toolkit.prompting import load_spec


def test_a_served_model_answers_through_the_completion_endpoint(tmp_path):
    messages = load_spec("few_shot").messages("How long is the warranty?", [("w.md", "The warranty lasts 2 years.")])
    with serve_gguf(embedded_llm_path(), n_ctx=1024, log=tmp_path / "server.log") as url:
        settings = load_settings(llm="openai-like:smollm2", base_url=url, completion=True, max_output_tokens=16)
        reply = make_llm(settings).chat(messages)
    assert reply.message.content.strip()
    assert "\n\n" not in reply.message.content  # stopped where the next example would begin
    assert reply.raw.usage.prompt_tokens > 200  # the few-shot text, all of it


def test_a_taken_port_is_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ConfigError, match=f"port {s.getsockname()[1]} on 127.0.0.1 is taken"):
            with serve_gguf(embedded_llm_path(), port=s.getsockname()[1]):
                pass
    assert free_port() > 0


def test_gemma_is_assembled_once_under_the_home(tmp_path):
    path = gemma_gguf(tmp_path)
    assert path == tmp_path / "models" / "gemma-3-270m-q4_k_m.gguf" and path.stat().st_size > 200_000_000
    assert gemma_gguf(tmp_path) == path  # the second call verifies, does not rewrite
