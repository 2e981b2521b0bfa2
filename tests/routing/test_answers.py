"""Stored tier answers: resumable, version-tagged, and safe against a crash mid-write."""

import json

import pytest

from conftest import TINY_CORPUS, write_files
from toolkit import Pipeline, PipelineConfig, load_settings
from toolkit.routing import TierAnswers, TierAnswersError, collect

ROW = {"question_id": "q1", "tier": "quote", "answer": "30 days.", "correct": True}


def test_answers_are_appended_and_read_back(tmp_path):
    store = TierAnswers(tmp_path / "a.jsonl", version="v1")
    store.add(ROW)
    store.add({**ROW, "question_id": "q2", "correct": False})
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"format": 1, "version": "v1"} and len(lines) == 3
    again = TierAnswers.load(tmp_path / "a.jsonl", version="v1")
    assert again.has("quote", "q2") and not again.has("model", "q1")
    assert again.frame().correct.tolist() == [True, False]


def test_answers_of_another_pipeline_version_are_refused(tmp_path):
    TierAnswers(tmp_path / "a.jsonl", version="v1").add(ROW)
    with pytest.raises(TierAnswersError, match="holds answers of pipeline version v1, not v2"):
        TierAnswers.load(tmp_path / "a.jsonl", version="v2")
    with pytest.raises(TierAnswersError, match="no stored tier answers at"):
        TierAnswers.load(tmp_path / "none.jsonl", version="v1")
    assert TierAnswers.load(tmp_path / "none.jsonl", version="v1", create=True).rows == []
    (tmp_path / "other.jsonl").write_text('{"x": 1}\n')
    with pytest.raises(TierAnswersError, match="is not a tier answers file"):
        TierAnswers.load(tmp_path / "other.jsonl", version="v1")
    with pytest.raises(TierAnswersError, match="a stored answer needs correct, tier"):
        TierAnswers(tmp_path / "b.jsonl", version="v1").add({"question_id": "q", "answer": ""})


def test_a_line_cut_short_by_a_crash_is_dropped_and_answered_again(tmp_path):
    path = tmp_path / "a.jsonl"
    TierAnswers(path, version="v1").add(ROW)
    with path.open("a") as handle:
        handle.write('{"question_id": "q2", "tier": "quo')  # the process died here
    store = TierAnswers.load(path, version="v1")
    assert not store.has("quote", "q2")
    store.add({**ROW, "question_id": "q2"})
    assert TierAnswers.load(path, version="v1").frame().question_id.tolist() == ["q1", "q2"]
    with path.open("a") as handle:
        handle.write("not json\n" + json.dumps({**ROW, "question_id": "q3"}) + "\n")
    with pytest.raises(TierAnswersError, match="line 4, is not JSON"):
        TierAnswers.load(path, version="v1")


def test_collect_asks_only_what_is_not_stored(tmp_path, embed_model):
    import pandas as pd

    write_files(tmp_path / "corpus", TINY_CORPUS)
    config = PipelineConfig(corpus="corpus", settings={"llm": "extractive"}, confidence={"answer_with": "extractive"})
    pipeline = Pipeline.from_config(config, settings=load_settings(), base=tmp_path)
    questions = pd.DataFrame(
        {
            "id": ["r", "s"],
            "question": ["How long do I have to return an item?", "How long does express shipping take?"],
            "answer": ["30 days", "1 business day"],
            "aliases": [[], []],
            "answerable": [True, True],
        }
    )
    store = TierAnswers(tmp_path / "a.jsonl", version=config.signal_version)
    assert collect(store, "quote", pipeline, questions.iloc[:1]) == 1
    assert collect(store, "quote", pipeline, questions) == 1  # the first is stored already
    rows = TierAnswers.load(tmp_path / "a.jsonl", version=config.signal_version).frame()
    assert rows.question_id.tolist() == ["r", "s"] and rows.correct.tolist() == [True, True]
    assert rows.signals[0]["extractive_similarity"] > 0 and rows.input_tokens.tolist() == [0, 0]
    assert len(pipeline.records) == 2
