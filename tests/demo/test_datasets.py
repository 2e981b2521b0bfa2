"""The bundled evaluation set: loading, validation, and its integrity against the corpus."""

from __future__ import annotations

import json

import pytest

from conftest import BUNDLED_CORPUS, BUNDLED_QUESTIONS, PROJECT
from toolkit.demo.datasets import QUESTION_FIELDS, datasets_root, load_questions, tidewell_corpus, tidewell_questions
from toolkit.errors import ConfigError
from toolkit.evaluation.answers import normalize
from toolkit.ingestion.loaders import load_folder

Q001 = {
    "id": "q001",
    "question": "How long do I have to return an item?",
    "answer": "30 days",
    "aliases": ["thirty days"],
    "sources": ["policies/returns.md"],
    "category": "policy",
    "difficulty": "hard",
    "answerable": True,
}


@pytest.fixture(scope="module")
def questions():
    return load_questions()


@pytest.fixture(scope="module")
def corpus():
    docs, skipped = load_folder(BUNDLED_CORPUS)
    return {d.doc_id: d.text for d in docs}, skipped


def test_bundled_paths():
    assert datasets_root() == PROJECT / "datasets"
    assert tidewell_corpus() == BUNDLED_CORPUS
    assert tidewell_questions() == BUNDLED_QUESTIONS


def test_load_the_bundled_questions(questions):
    lines = [line for line in BUNDLED_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) == 106
    assert len(questions) == 106
    assert list(questions.columns) == list(QUESTION_FIELDS)
    assert questions.iloc[0].to_dict() == Q001
    assert questions.id.is_unique
    assert list(questions.id) == [f"q{i:03d}" for i in range(1, 107)]
    assert int(questions.answerable.sum()) == 92


def test_datasets_root_can_be_moved(tmp_path, monkeypatch):
    (tmp_path / "tidewell" / "eval").mkdir(parents=True)
    monkeypatch.setenv("TOOLKIT_DATASETS", str(tmp_path))
    assert tidewell_questions() == tmp_path / "tidewell" / "eval" / "questions.jsonl"
    monkeypatch.setenv("TOOLKIT_DATASETS", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=f"^the bundled data sets are not at {tmp_path / 'missing'};"):
        datasets_root()


def write_jsonl(path, rows) -> None:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    write_jsonl(path, [Q001, "", '{"id": "q002", "question": '])  # line 2 is blank, line 3 is cut short
    with pytest.raises(ConfigError) as info:
        load_questions(path)
    assert str(info.value) == f"{path}, line 3: not valid JSON (Expecting value)"


@pytest.mark.parametrize(
    "field, value, kind",
    [
        ("aliases", "thirty days", "list"),
        ("answerable", "yes", "bool"),
        ("id", 1, "str"),
        ("sources", None, "list"),
    ],
)
def test_a_field_of_the_wrong_type_names_the_line_and_field(tmp_path, field, value, kind):
    path = tmp_path / "q.jsonl"
    write_jsonl(path, [Q001, Q001 | {"id": "q002", field: value}])
    with pytest.raises(ConfigError) as info:
        load_questions(path)
    assert str(info.value) == f"{path}, line 2: field {field!r} must be a {kind}"


def test_a_missing_field_names_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    row = dict(Q001)
    del row["difficulty"]
    write_jsonl(path, [row])
    with pytest.raises(ConfigError, match=r", line 1: field 'difficulty' must be a str$"):
        load_questions(path)


def test_a_file_without_questions(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_questions(path)
    assert str(info.value) == f"{path} holds no questions"


# --- integrity of the bundled data -----------------------------------------------------------


def test_the_corpus_loads_without_skips(corpus):
    texts, skipped = corpus
    assert skipped == []
    assert len(texts) == 54
    formats = sorted({doc.rsplit(".", 1)[1] for doc in texts})
    assert formats == ["html", "md", "pdf", "txt"]


def test_every_gold_source_exists(questions, corpus):
    texts, _ = corpus
    missing = [(q.id, s) for q in questions.itertuples() for s in q.sources if s not in texts]
    assert missing == []


def test_every_answerable_gold_answer_occurs_in_a_gold_source(questions, corpus):
    texts, _ = corpus
    normalized = {doc: f" {normalize(text)} " for doc, text in texts.items()}
    not_found = []
    for q in questions[questions.answerable].itertuples():
        assert q.sources, q.id
        candidates = [g for g in [q.answer, *q.aliases] if normalize(g)]
        if not any(f" {normalize(g)} " in normalized[s] for s in q.sources for g in candidates):
            not_found.append(q.id)
    assert not_found == []


def test_unanswerable_questions_have_no_answer_and_no_sources(questions):
    unanswerable = questions[~questions.answerable]
    assert len(unanswerable) == 14
    assert set(unanswerable.category) == {"unanswerable"}
    assert all(q.answer == "" and q.aliases == [] and q.sources == [] for q in unanswerable.itertuples())
