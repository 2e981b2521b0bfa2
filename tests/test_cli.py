"""`python -m toolkit ...` as a user runs it: a real subprocess, with its own TOOLKIT_HOME."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ASK_JSON_KEYS, PROJECT, TINY_CORPUS, TOOLKIT_VARIABLES, write_files

DOC_IDS = ["products/plug.html", "returns.md", "shipping.txt", "warranty.md"]


def toolkit(*args: str, home: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in TOOLKIT_VARIABLES}
    env["TOOLKIT_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(PROJECT),
        timeout=timeout,
    )


def one_json_object(stdout: str) -> dict:
    """The whole of stdout is exactly one JSON object (json.loads refuses trailing text)."""
    value = json.loads(stdout)
    assert isinstance(value, dict)
    return value


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """One real `ingest --json` run, shared by the tests that read its output or its index."""
    root = tmp_path_factory.mktemp("cli")
    corpus = write_files(root / "corpus", TINY_CORPUS)
    write_files(corpus, {"notes.csv": "a,b\n", "empty.md": ""})
    index = root / "index"
    result = toolkit("ingest", str(corpus), "--index", str(index), "--json", home=root / "home")
    return result, corpus, index, root / "home"


def test_ingest_json(ingested):
    result, corpus, index, home = ingested
    assert result.returncode == 0, result.stderr
    report = one_json_object(result.stdout)
    assert set(report) == {"indexed", "skipped", "decoded", "chunks", "embedded", "seconds", "source", "index", "notes"}
    assert report["decoded"] == {}
    assert report["indexed"] == DOC_IDS
    assert report["skipped"] == [
        {"path": "empty.md", "reason": "empty file"},
        {
            "path": "notes.csv",
            "reason": "unsupported file type '.csv' (supported: .htm, .html, .markdown, .md, .pdf, .txt)",
        },
    ]
    assert (report["chunks"], report["embedded"]) == (4, 4)
    assert isinstance(report["seconds"], float) and report["seconds"] > 0
    assert (report["source"], report["index"]) == (str(corpus), str(index))
    assert (index / "CURRENT").read_text() == "v000001\n"
    assert not (home / "indexes").exists()  # --index was given: nothing under the home


def test_ingest_of_only_bad_files_fails_but_still_reports(tmp_path):
    bad = write_files(tmp_path / "bad", {"empty.txt": "", "photo.jpg": b"\xff\xd8\xff\xe0"})
    result = toolkit("ingest", str(bad), "--index", str(tmp_path / "index"), "--json", home=tmp_path / "home")
    assert result.returncode == 1
    report = one_json_object(result.stdout)
    assert report["indexed"] == [] and report["chunks"] == 0
    assert report["skipped"] == [
        {"path": "empty.txt", "reason": "empty file"},
        {
            "path": "photo.jpg",
            "reason": "unsupported file type '.jpg' (supported: .htm, .html, .markdown, .md, .pdf, .txt)",
        },
    ]
    assert result.stderr.splitlines()[-1] == (
        f"error: no file in {bad} could be indexed (2 skipped; supported: "
        f".md .txt .html .pdf); the index was not changed"
    )
    assert not (tmp_path / "index").exists()


def test_ingest_of_a_missing_folder_is_a_usage_error(tmp_path):
    missing = tmp_path / "nope"
    result = toolkit("ingest", str(missing), "--json", home=tmp_path / "home")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {missing} is not a folder; pass the folder that holds your documents\n"


def test_ask_json(ingested, tmp_path):
    _, _, index, _ = ingested
    result = toolkit(
        "ask", "How much does the Plug Mini cost?", "--index", str(index), "--json", home=tmp_path / "home"
    )
    assert result.returncode == 0, result.stderr
    answer = one_json_object(result.stdout)
    assert list(answer) == ASK_JSON_KEYS
    assert answer["tier"] is None and answer["tiers_tried"] is None  # no model tiers configured
    assert "$24.99" in answer["answer"]
    assert [list(s) for s in answer["sources"]] == [["id", "score"]] * 3
    assert answer["sources"][0]["id"] == "products/plug.html"
    assert {s["id"] for s in answer["sources"]} <= set(DOC_IDS)
    scores = [s["score"] for s in answer["sources"]]
    assert scores == sorted(scores, reverse=True)
    assert answer["latency_s"] > 0
    assert answer["input_tokens"] > 100 and 1 <= answer["output_tokens"] <= 64
    assert (answer["cost_usd"], answer["model"], answer["error"]) == (0.0, "local:SmolLM2-135M-Instruct.Q4_1", "")


def test_ask_on_a_corrupted_index_exits_2_naming_the_file(ingested, tmp_path):
    _, _, index, _ = ingested
    damaged = tmp_path / "damaged"
    shutil.copytree(index, damaged)
    nodes = damaged / "v000001" / "store" / "nodes.jsonl"
    nodes.write_bytes(nodes.read_bytes()[:-40])  # a truncated write
    result = toolkit(
        "ask", "How long do I have to return an item?", "--index", str(damaged), "--json", home=tmp_path / "home"
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {nodes} is corrupt (its checksum does not match the manifest); "
        f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {damaged}\n"
    )


def test_ask_on_a_missing_index_exits_2(tmp_path):
    missing = tmp_path / "no-index"
    result = toolkit("ask", "Hello?", "--index", str(missing), home=tmp_path / "home")
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {missing} holds no index ({missing / 'CURRENT'} is missing); "
        f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {missing}\n"
    )


def test_a_bad_setting_exits_2(tmp_path):
    result = toolkit("ask", "Hello?", "--top-k", "0", "--index", str(tmp_path), home=tmp_path / "home")
    assert result.returncode == 2
    assert result.stderr == "error: setting 'top_k': Input should be greater than or equal to 1 (got 0)\n"


def test_info_json(tmp_path):
    home = tmp_path / "home"
    result = toolkit("info", "--json", home=home)
    assert result.returncode == 0, result.stderr
    info = one_json_object(result.stdout)
    assert list(info) == [
        "toolkit",
        "python",
        "home",
        "llm",
        "embed",
        "embedded_llm",
        "embedded_embedding",
        "keys",
        "packages",
    ]
    assert info["toolkit"] == "0.1.0"
    assert info["python"] == sys.version.split()[0]
    assert (info["home"], info["llm"], info["embed"]) == (str(home), "local", "local")
    assert info["embedded_llm"]["present"] is True
    assert info["embedded_llm"]["path"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert info["embedded_llm"]["mb"] == round(Path(info["embedded_llm"]["path"]).stat().st_size / 1e6, 1)
    assert info["embedded_embedding"]["present"] is True
    assert info["keys"] == {"OPENAI_API_KEY": False, "ANTHROPIC_API_KEY": False}
    assert set(info["packages"]) == {
        "llama-index-core",
        "llama-cpp-python",
        "faiss-cpu",
        "sentence-transformers",
        "torch",
    }
    assert "not installed" not in info["packages"].values()


def test_info_reports_whether_a_key_is_set_never_its_value(tmp_path):
    env_key = "sk-test-not-a-real-key-123"
    env = {k: v for k, v in os.environ.items() if k not in TOOLKIT_VARIABLES}
    env.update(TOOLKIT_HOME=str(tmp_path / "home"), OPENAI_API_KEY=env_key)
    result = subprocess.run(
        [sys.executable, "-m", "toolkit", "info", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(PROJECT),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert one_json_object(result.stdout)["keys"] == {"OPENAI_API_KEY": True, "ANTHROPIC_API_KEY": False}
    assert env_key not in result.stdout + result.stderr


def test_usage_error_exits_2(tmp_path):
    result = toolkit("frobnicate", home=tmp_path / "home")
    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in result.stderr


def test_a_file_that_is_not_a_gguf_model_is_a_clear_error(ingested, tmp_path):
    _, _, index, home = ingested
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"this is not a model")
    result = toolkit("ask", "Anything?", "--index", str(index), "--llm", f"local:{fake}", home=home)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {fake} could not be loaded as a GGUF model (")
    assert "Traceback" not in result.stderr


def test_serve_and_ask_land_in_the_pipeline_s_run_store(tmp_path):
    """`serve --pipeline` answers over HTTP and `ask --pipeline` from the command line; both runs
    land in the store the configuration names, tagged with where they came from."""
    import socket
    import time

    import httpx

    from toolkit.tracking import RunStore

    corpus = write_files(tmp_path / "corpus", TINY_CORPUS)
    config = tmp_path / "served.yaml"
    config.write_text(f"name: served\ncorpus: {corpus}\nsettings: {{llm: extractive}}\nstore: runs.sqlite\n")
    home = tmp_path / "home"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in TOOLKIT_VARIABLES}
    env["TOOLKIT_HOME"] = str(home)
    server = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "serve", "--pipeline", str(config), "--port", str(port)],
        env=env, cwd=str(PROJECT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline, reply = time.monotonic() + 240, None
        while reply is None and time.monotonic() < deadline and server.poll() is None:
            try:
                reply = httpx.post(
                    f"http://127.0.0.1:{port}/ask",
                    json={"question": "How long do I have to return an item?"},
                    timeout=60,
                )
            except httpx.TransportError:
                time.sleep(0.5)
        assert reply is not None and reply.status_code == 200, server.stderr.read1().decode() if server.poll() else ""
        served_id = reply.json()["run_id"]
    finally:
        server.terminate()
        server.wait(30)
    asked = toolkit("ask", "Is express shipping faster?", "--pipeline", str(config), "--json", home=home)
    assert asked.returncode == 0, asked.stderr
    runs = RunStore(home / "runs.sqlite").runs()
    assert runs.origin.tolist() == ["server", "cli"] and runs.run_id.iloc[0] == served_id
    assert runs.question.tolist()[1] == "Is express shipping faster?"


def test_serve_refuses_to_listen_beyond_loopback_without_a_token(tmp_path):
    result = toolkit("serve", "--pipeline", "missing.yaml", "--host", "0.0.0.0", home=tmp_path)
    assert result.returncode == 2
    assert "serving on 0.0.0.0 reaches other machines: set a token (--token or TOOLKIT_SERVE_TOKEN)" in result.stderr
