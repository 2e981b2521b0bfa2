"""The live cascade on the tiny corpus: a confident tier answers, an unsure one passes the
question on, a tier that is down is skipped and recorded, and a person gets the rest."""

import socket

import pytest

from conftest import TINY_CORPUS, write_files
from toolkit import PipelineConfig, load_settings
from toolkit.confidence import Calibrator
from toolkit.errors import ConfigError
from toolkit.routing import Cascade, build, tier_config
from toolkit.validation import SqliteReviewQueue

RETURNS = "How long do I have to return an item?"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def tiered(tmp_path, thresholds, review=True):
    """A configuration file with two tiers: the quote, then a server that is down."""
    write_files(tmp_path / "corpus", TINY_CORPUS)
    down = {"base_url": f"http://127.0.0.1:{closed_port()}/v1"}
    order = [
        {"name": "quote", "llm": "extractive", "answer_with": "extractive", "threshold": thresholds[0]},
        {
            "name": "down",
            "llm": "openai-like:m",
            "priced_as": "openai:gpt-4o",
            "settings": down,
            "threshold": thresholds[1],
        },
    ]
    config = PipelineConfig(
        corpus="corpus",
        retry={"max_attempts": 1, "timeout_s": 5},
        ledger={"path": "ledger.sqlite"},
        confidence={"answer_with": "extractive"},
        tiers={"order": order, "review": {"usd_per_item": 2.0} if review else None},
    )
    for number, tier in enumerate(config.tiers.order):  # one calibrator per tier, on made-up labels
        rows = [{"top_score": x / 20} for x in range(40)]  # right from a top score of 1.0 on
        version = tier_config(config, tier).signal_version
        Calibrator.fit(rows, [x >= 20 for x in range(40)], signals=["top_score"], pipeline_version=version).save(
            tmp_path / f"{tier.name}.json"
        )
        order[number]["calibrator"] = f"{tier.name}.json"
    config = config.with_changes(tiers={**config.tiers.model_dump(), "order": order})
    config.save(tmp_path / "tiered.yaml")
    home = load_settings().home  # the down server's model, priced in the home's own price table
    home.mkdir(parents=True, exist_ok=True)
    (home / "prices.csv").write_text(
        "provider,model,input_per_mtok,output_per_mtok,cached_input_per_mtok,"
        "effective_date,source\nopenai-like,m,0,0,0,2026-12-02,a test server\n"
    )
    return tmp_path / "tiered.yaml"


def test_a_confident_tier_answers_and_says_so(tmp_path, embed_model):
    cascade = build(tiered(tmp_path, [0.0, 0.5]), settings=load_settings())
    answer = cascade.ask(RETURNS).to_dict()
    assert "30 days" in answer["answer"]
    rows = cascade.tiers[0].pipeline.ledger.entries()
    assert rows[rows.kind == "route"].note.tolist() == ["answered by quote; tried quote"]
    assert (answer["tier"], answer["tiers_tried"]) == ("quote", ["quote"])


def test_a_down_tier_is_skipped_and_a_person_gets_the_question(tmp_path, embed_model):
    cascade = Cascade.from_config(tiered(tmp_path, [1.0, 0.5]), settings=load_settings())
    answer = cascade.ask(RETURNS)
    assert (answer.to_dict()["tier"], answer.to_dict()["tiers_tried"]) == ("review", ["quote", "down"])
    quote, down = answer.record.get("cascade.attempts")
    assert quote["outcome"] == "passed on" and 0 < quote["confidence"] < 1.0
    assert down["outcome"] == "error" and down["error"].startswith("RetryExhaustedError")
    assert "Awaiting review: no tier was confident enough" in answer.text
    queue = SqliteReviewQueue(load_settings().home / "review/queue.sqlite")
    (item,) = queue.pending()
    assert (item.id, item.rule, item.validator) == (answer.record.get("cascade.ticket"), "cascade", "routing")
    assert "30 days" in item.answer
    rows = cascade.tiers[0].pipeline.ledger.entries()
    decided = rows[(rows.query_id == answer.record.run_id) & rows.kind.isin(["route", "review"])].sort_values("kind")
    assert decided[["kind", "usd", "note"]].values.tolist() == [
        ["review", 2.0, "a person's answer"],
        ["route", 0.0, "answered by review; tried quote, down"],
    ]


def test_without_a_review_tier_the_last_tier_keeps_the_best_answer(tmp_path, embed_model):
    path = tiered(tmp_path, [1.0, None], review=False)
    answer = Cascade.from_config(path, settings=load_settings()).ask(RETURNS)
    # the quote passed it on, the last tier is down: the quote's answer stands, from the tier tried last
    assert answer.to_dict()["tiers_tried"] == ["quote", "down"] and "30 days" in answer.text


def test_a_threshold_without_a_calibrator_and_an_unpriced_tier_are_refused_before_any_call(tmp_path):
    bare = {"order": [{"name": "q", "llm": "extractive", "threshold": 0.5}]}
    with pytest.raises(ConfigError, match="tier 'q' has a threshold but no calibrator"):
        Cascade.from_config(PipelineConfig(tiers=bare))
    unsure = {"order": [{"name": "q", "llm": "extractive"}]}
    with pytest.raises(ConfigError, match="tier 'q' needs a threshold in \\[0, 1\\]"):
        Cascade.from_config(PipelineConfig(tiers=unsure))
    unpriced = {"order": [{"name": "h", "llm": "openai:gpt-9"}], "review": None}
    with pytest.raises(ConfigError, match="tier 'h' is not priced"):
        Cascade.from_config(PipelineConfig(tiers=unpriced))
    with pytest.raises(ConfigError, match="has no tiers"):
        Cascade.from_config(PipelineConfig())
