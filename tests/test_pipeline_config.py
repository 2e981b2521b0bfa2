"""The pipeline configuration: its version, saving and loading, clear errors, and building from it."""

import pytest

from conftest import TINY_CORPUS, write_files
from toolkit import Pipeline, PipelineConfig
from toolkit.errors import ConfigError

RETURNS = "How long do I have to return an item?"


def test_the_version_names_the_content_not_the_label():
    a, b = PipelineConfig(name="a"), PipelineConfig(name="b")
    assert a.version == b.version and len(a.version) == 12 and int(a.version, 16) >= 0
    hybrid = a.with_changes(retriever={"kind": "hybrid"})
    assert hybrid.version != a.version
    assert hybrid.with_changes(retriever={"kind": "dense"}).version == a.version
    assert (hybrid.name, hybrid.retriever.kind, hybrid.retriever.candidates) == ("a", "hybrid", 20)


def test_save_writes_only_what_differs_from_the_defaults_and_loads_back(tmp_path):
    config = PipelineConfig(
        name="02_retrieval_layer",
        retriever={"kind": "hybrid", "top_k": 5},
        validation={"checks": [{"check": "grounding", "policy": "refuse"}]},
    )
    path = config.save(tmp_path / "p.yaml")
    assert path.read_text(encoding="utf-8") == (
        f"# pipeline configuration, version {config.version} (python -m toolkit ask --pipeline p.yaml)\n"
        "name: 02_retrieval_layer\n"
        "retriever:\n  kind: hybrid\n  top_k: 5\n"
        "validation:\n  checks:\n  - check: grounding\n"
    )
    loaded = PipelineConfig.load(path)
    assert loaded == config and loaded.version == config.version
    assert not list(tmp_path.glob(".p.yaml*"))  # the temporary file was renamed into place


@pytest.mark.parametrize(
    "data, message",
    [
        ({"retriever": {"kind": "sparse"}}, r"retriever\.kind: Input should be 'dense', 'bm25' or 'hybrid'"),
        ({"retry": {"max_attempts": 0}}, r"retry\.max_attempts: Input should be greater than or equal to 1"),
        ({"cahce": {}}, r"cahce: Extra inputs are not permitted"),
        ({"validation": {"checks": [{"check": "tone"}]}}, r"validation\.checks\.0\.check: Input should be"),
    ],
)
def test_a_bad_field_is_named(data, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.parse(data)


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    (tmp_path / "p.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is a mapping of fields, not list"):
        PipelineConfig.load(tmp_path / "p.yaml")
    with pytest.raises(ConfigError, match="no pipeline configuration at"):
        PipelineConfig.load(tmp_path / "missing.yaml")


def test_a_slot_the_toolkit_cannot_build_yet_is_refused(tmp_path, embed_model):
    config = PipelineConfig(corpus=str(write_files(tmp_path / "c", TINY_CORPUS)), confidence={"method": "isotonic"})
    with pytest.raises(ConfigError, match="sets 'confidence', which this version of the toolkit cannot build yet"):
        Pipeline.from_config(config)


def test_from_config_builds_the_whole_pipeline(tmp_path, embed_model):
    write_files(tmp_path / "corpus", TINY_CORPUS)
    PipelineConfig(
        name="tiny",
        corpus="corpus",
        settings={"llm": "extractive"},
        retriever={"kind": "bm25"},
        validation={"checks": [{"check": "grounding"}, {"check": "safety"}]},
        cache={"path": "cache.sqlite", "semantic": False},
    ).save(tmp_path / "tiny.yaml")
    pipeline = Pipeline.from_config(tmp_path / "tiny.yaml")  # the corpus is relative to the file
    assert pipeline.config.name == "tiny"
    assert [step.name for step in pipeline.steps] == ["retrieve", "context", "prompt", "generate", "validate"]
    first, again = pipeline.ask(RETURNS), pipeline.ask(RETURNS)
    assert first.text == again.text == "You can return an item within 30 days of delivery for a full refund."
    assert first.sources[0].id == "returns.md"
    assert (first.record.get("validate.action"), first.record.get("cache.hit"), again.record.get("cache.hit")) == (
        "pass",
        "",
        "exact",
    )
