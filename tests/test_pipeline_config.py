"""The pipeline configuration: its version, saving and loading, clear errors, and building from it."""

import pytest

from conftest import TINY_CORPUS, write_files
from toolkit import Pipeline, PipelineConfig, load_settings
from toolkit.confidence import Calibrator
from toolkit.errors import ConfigError
from toolkit.prompting import ABSTAIN
from toolkit.validation import SqliteReviewQueue

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
        (
            {"store": "postgresql://u:hunter2@db/toolkit"},
            r"store: Value error, the store URL holds a password.*PGPASSWORD",
        ),
    ],
)
def test_a_bad_field_is_named(data, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.parse(data)


def test_a_database_store_is_checked_before_any_work(tmp_path, postgres_url):
    """The corpus folder does not exist: had ingestion started, it would fail on that first."""
    from toolkit.errors import StoreError

    missing = PipelineConfig(corpus=str(tmp_path / "no-corpus"), store=f"postgresql://postgres@/x?host={tmp_path}")
    assert missing.version != missing.with_changes(store="runs.sqlite").version  # where runs land is content
    with pytest.raises(StoreError, match="cannot reach the store"):
        Pipeline.from_config(missing)


def test_one_store_setting_moves_every_store_to_postgresql(tmp_path, postgres_url, embed_model):
    """Nothing but `store` changes: the cost ledger, the response cache, the run store, the
    review queue and the index (read by BM25 here) all land in the database, and no SQLite file or
    index folder of theirs is written under the toolkit's home."""
    from toolkit.config import load_settings
    from toolkit.cost import PostgresCostLedger, PostgresResponseCache
    from toolkit.ingestion import PostgresIndex
    from toolkit.tracking import PostgresRunStore
    from toolkit.validation.review_postgres import PostgresReviewQueue

    write_files(tmp_path / "corpus", TINY_CORPUS)
    config = PipelineConfig(
        corpus=str(tmp_path / "corpus"),
        settings={"llm": "extractive"},
        retriever={"kind": "bm25"},
        cache={"path": "cache.sqlite", "semantic": False},
        ledger={"path": "ledger.sqlite", "priced_as": "openai:gpt-4o-mini"},
        validation={"checks": [{"check": "grounding", "policy": "escalate"}], "queue": "review/queue.sqlite"},
        store=postgres_url,
    )
    pipeline = Pipeline.from_config(config)
    first, again = pipeline.ask(RETURNS), pipeline.ask(RETURNS)
    assert (first.record.get("cache.hit"), again.record.get("cache.hit")) == ("", "exact")
    ledger, cache = pipeline.ledger, next(m.cache for m in pipeline.client.middleware if hasattr(m, "cache"))
    assert pipeline.steps[-1].name == "validate"
    assert (type(ledger), type(cache), type(pipeline.store), type(pipeline.steps[-1].guard.queue)) == (
        PostgresCostLedger,
        PostgresResponseCache,
        PostgresRunStore,
        PostgresReviewQueue,
    )
    assert pipeline.store.runs().run_id.tolist() == [first.record.run_id, again.record.run_id]
    assert set(ledger.entries().query_id) == {first.record.run_id, again.record.run_id}
    home = load_settings().home
    local = [home / name for name in ("cache.sqlite", "ledger.sqlite", "runs.sqlite", "review/queue.sqlite")]
    assert not [path.name for path in local if path.exists()]
    assert type(pipeline.index) is PostgresIndex and pipeline.index.chunks == 4
    assert first.sources[0].id == "returns.md" and not (home / "indexes").exists()


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    (tmp_path / "p.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is a mapping of fields, not list"):
        PipelineConfig.load(tmp_path / "p.yaml")
    with pytest.raises(ConfigError, match="no pipeline configuration at"):
        PipelineConfig.load(tmp_path / "missing.yaml")


def test_a_configuration_with_tiers_is_built_by_the_cascade_not_the_pipeline(tmp_path, embed_model):
    tiers = {"order": [{"name": "quote", "llm": "extractive"}], "review": None}
    config = PipelineConfig(corpus=str(write_files(tmp_path / "c", TINY_CORPUS)), tiers=tiers)
    with pytest.raises(ConfigError, match="has model tiers: build it with toolkit.routing.Cascade.from_config"):
        Pipeline.from_config(config)


@pytest.mark.parametrize(
    "tiers, message",
    [
        ({"order": []}, "tiers.order: Value error, name at least one tier, cheapest first"),
        (
            {
                "order": [
                    {"name": "a", "llm": "extractive"},
                    {"name": "b", "llm": "local"},
                    {"name": "a", "llm": "local"},
                ]
            },
            "tiers.order: Value error, tier a comes twice: a cascade tries each tier once",
        ),
        ({"order": [{"name": "a", "llm": "local", "threshold": 1.5}]}, "tiers.order.0.threshold: Input should be less"),
        (
            {"order": [{"name": "a", "llm": "local", "threshold": -0.1}]},
            "tiers.order.0.threshold: Input should be greater",
        ),
        ({"order": [{"name": "a", "llm": "local"}], "review": {"usd_per_item": -1}}, "tiers.review.usd_per_item"),
    ],
)
def test_a_bad_tier_list_is_a_configuration_error_naming_the_field(tiers, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        PipelineConfig.parse({"tiers": tiers})


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


def test_confidence_and_escalation_come_from_the_configuration(tmp_path, embed_model):
    write_files(tmp_path / "corpus", TINY_CORPUS)
    scored = PipelineConfig(
        name="tiny",
        corpus="corpus",
        settings={"llm": "extractive"},
        retriever={"kind": "bm25"},
        confidence={"extractive": True, "answer_with": "extractive"},
    )
    # a calibrator over two signals, fitted on labelled rows: right answers have the asked-for span
    rows = [{"top_score": 1.0 + i % 5, "type_match": float(i % 2)} for i in range(60)]
    labels = [i % 2 == 1 or i % 5 == 4 for i in range(60)]
    signals = ["top_score", "type_match"]
    Calibrator.fit(rows, labels, signals=signals, pipeline_version=scored.signal_version).save(tmp_path / "cal.json")
    # answer_at 1.0: a calibrated probability never reaches it, so every answer goes to a person
    policy = {"answer_at": 1.0, "refuse_below": 0.0, "queue": "review/queue.sqlite"}
    scored.with_changes(
        confidence={**scored.confidence.model_dump(), "calibrator": "cal.json"}, escalation=policy
    ).save(tmp_path / "tiny.yaml")
    pipeline = Pipeline.from_config(tmp_path / "tiny.yaml")
    assert [step.name for step in pipeline.steps][-3:] == ["extractive", "confidence", "decide"]
    answer = pipeline.ask(RETURNS)
    reply = answer.to_dict()
    assert 0 < reply["confidence"] < 1 and reply["decision"] == "escalate"
    assert answer.text.startswith("You can return an item within 30 days of delivery for a full refund.")
    assert answer.text.endswith("A person will check this answer.)")
    queue = SqliteReviewQueue(load_settings().home / "review" / "queue.sqlite")
    (item,) = queue.pending()
    assert (item.run_id, item.question, item.context[0]["source"]) == (answer.record.run_id, RETURNS, "returns.md")
    assert item.signals["confidence"] == reply["confidence"] and item.priority == round(1 - reply["confidence"], 4)


def test_the_quote_declines_below_its_floor_from_the_configuration(tmp_path, embed_model):
    write_files(tmp_path / "corpus", TINY_CORPUS)
    quoting = PipelineConfig(
        corpus=str(tmp_path / "corpus"),
        settings={"llm": "extractive"},
        retriever={"kind": "bm25"},
        confidence={"answer_with": "extractive"},
    )
    answered = Pipeline.from_config(quoting).ask(RETURNS)
    similarity = answered.record.get("extractive.similarity")
    assert answered.text == "You can return an item within 30 days of delivery for a full refund."
    # a floor just above the best sentence's score: the same question is declined, its score kept
    floored = quoting.with_changes(confidence={"answer_with": "extractive", "min_similarity": similarity + 0.01})
    declined = Pipeline.from_config(floored).ask(RETURNS)
    assert declined.text == ABSTAIN and declined.record.get("extractive.similarity") == similarity
    # the default floor stays out of the version hash (saved pipelines keep their names); another does not
    assert quoting.with_changes(confidence={"answer_with": "extractive", "min_similarity": 0.35}).version == (
        quoting.version
    )
    assert floored.version != quoting.version


def test_a_calibrator_for_another_pipeline_or_escalation_without_one_is_refused(tmp_path, embed_model):
    write_files(tmp_path / "corpus", TINY_CORPUS)
    scored = PipelineConfig(corpus=str(tmp_path / "corpus"), settings={"llm": "extractive"}, confidence={})
    rows = [{"top_score": float(i % 7)} for i in range(60)]
    calibrator = Calibrator.fit(rows, [i % 7 > 3 for i in range(60)], signals=["top_score"], pipeline_version="0ld")
    calibrator.save(tmp_path / "cal.json")
    config = scored.with_changes(confidence={"calibrator": "cal.json"})
    with pytest.raises(ConfigError, match=f"fitted for pipeline version 0ld, not {config.signal_version}; refit"):
        Pipeline.from_config(config, base=tmp_path)
    with pytest.raises(ConfigError, match="escalation needs a calibrated confidence"):
        Pipeline.from_config(scored.with_changes(escalation={"answer_at": 0.8}), base=tmp_path)


def test_the_committed_configurations_keep_their_versions():
    # A field added later stays out of the hash at its default, so no saved pipeline is renamed.
    from conftest import PROJECT

    for path in sorted((PROJECT / "notebooks" / "pipelines").glob("*.yaml")):
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert f"version {PipelineConfig.load(path).version} " in header, path.name
    config = PipelineConfig(retriever={"kind": "hybrid"})
    assert config.with_changes(retriever={"kind": "hybrid", "prefer_current": True}).version != config.version


def test_ray_is_out_of_the_version_until_set_and_never_in_the_signal_version():
    from toolkit.pipeline_config import RayConfig

    plain = PipelineConfig(name="x")
    on_ray = plain.with_changes(ray={"workers": 4, "address": "auto"})
    assert on_ray.ray == RayConfig(workers=4, address="auto")
    assert plain.version == "cc16723d37d8"  # the version this configuration had before the field existed
    assert on_ray.version != plain.version  # set, it is content: where the pipeline runs
    assert on_ray.signal_version == plain.signal_version == plain.version  # it never changes an answer
    with pytest.raises(ConfigError, match="ray.workers: Input should be greater than or equal to 1"):
        plain.with_changes(ray={"workers": 0})
