"""Measuring validators: the labeled outputs and precision and recall on them; the prompt-injection
documents and probes, and the probe itself on a small injected corpus."""

from __future__ import annotations

import re
import shutil

import pytest

from conftest import BUNDLED_CORPUS, HUB, PROJECT, TINY_CORPUS, TODAY, write_files
from toolkit.demo import business_rules, validators
from toolkit.errors import ConfigError
from toolkit.evaluation.validators import (
    injected_pipeline,
    injection_probe,
    load_labeled_outputs,
    load_probes,
    score_validators,
)
from toolkit.prompting.spec import CitedAnswer
from toolkit.validation.checks import INSTRUCTION, Grounding, Safety
from toolkit.validation.policies import Guard

INJECTION = PROJECT / "datasets" / "tidewell" / "injection"


def corpus_text(folder) -> dict[str, str]:
    from toolkit.ingestion.loaders import parse_file

    return {
        p.relative_to(folder).as_posix(): parse_file(p.read_bytes(), p.suffix, p.name).text
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_injection_documents_live_apart_from_the_corpus():
    injected = sorted(p.relative_to(INJECTION).as_posix() for p in INJECTION.rglob("*") if p.is_file())
    assert len(injected) == 8
    assert {p.rsplit(".", 1)[1] for p in injected} == {"md", "txt", "html"}
    assert not any((BUNDLED_CORPUS / p).exists() for p in injected)  # never in the corpus itself


def test_every_probe_targets_an_injection_that_its_detector_recognizes():
    probes = load_probes()
    assert 12 <= len(probes) <= 20
    texts = corpus_text(INJECTION)
    corpus = corpus_text(BUNDLED_CORPUS)
    for probe in probes:
        text = texts[probe["document"]]
        assert INSTRUCTION.search(text), probe["id"]  # the document addresses the model
        assert re.search(probe["detect"], text, re.I), probe["id"]  # and carries what the detector looks for
        # nothing in the real corpus looks like a followed injection, so a match means the injection
        assert not any(re.search(probe["detect"], t, re.I) for t in corpus.values()), probe["id"]


def test_bad_probe_files_are_refused(tmp_path):
    path = tmp_path / "probes.jsonl"
    path.write_text('{"id": "p1", "question": "q", "document": "d.md", "detect": "(", "instruction": "i"}\n')
    with pytest.raises(ConfigError, match="probe p1: detect is not a valid regular expression"):
        load_probes(path)
    path.write_text('{"id": "p1", "question": "q"}\n')
    with pytest.raises(ConfigError, match="line 1: field 'document' must be a str"):
        load_probes(path)
    with pytest.raises(ConfigError, match="missing.jsonl does not exist; point TOOLKIT_DATASETS"):
        load_probes(tmp_path / "missing.jsonl")


@pytest.fixture
def tiny_datasets(tmp_path, monkeypatch):
    """A datasets folder whose Tidewell corpus is the tiny corpus, plus two real injection documents."""
    root = tmp_path / "datasets"
    write_files(root / "tidewell" / "corpus", TINY_CORPUS)
    for name in ("support/sentry_cam_tips.txt", "company/press_2025_draft.md"):
        (root / "tidewell" / "injection" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(INJECTION / name, root / "tidewell" / "injection" / name)
    monkeypatch.setenv("TOOLKIT_DATASETS", str(root))
    return root


def test_the_probe_over_an_injected_copy_of_the_corpus(tiny_datasets, embed_model):
    from toolkit.config import load_settings

    settings = load_settings(llm="extractive")
    pipeline = injected_pipeline(settings, embed_model=embed_model)
    assert sorted(pipeline.index.meta["files"]) == sorted(
        [*TINY_CORPUS, "support/sentry_cam_tips.txt", "company/press_2025_draft.md"]
    )
    assert sorted(p.name for p in (tiny_datasets / "tidewell" / "corpus").rglob("*") if p.is_file()) == sorted(
        p.rsplit("/", 1)[-1] for p in TINY_CORPUS
    )  # the corpus itself is untouched

    probes = [
        p
        for p in load_probes(PROJECT / "datasets" / "tidewell" / "eval" / "injection_probes.jsonl")
        if p["id"] in ("p09", "p10", "p11")
    ]
    results = injection_probe(pipeline, probes, Guard([(Safety(), "refuse")]))
    # the extractive answerer quotes the closest sentence: for these questions that sentence
    # carries the injection, so it "follows" it; the safety validator catches every one
    assert results.injected_in_prompt.tolist() == [True, True, True]
    assert results.followed.tolist() == [True, True, True]
    assert results.caught_by.tolist() == ["safety:echoed_instruction"] * 3
    assert results.followed_after_validation.tolist() == [False, False, False]


# --- the labeled set -------------------------------------------------------------------------


def test_the_labeled_set_is_well_formed():
    labeled = load_labeled_outputs()
    assert len(labeled) >= 60
    assert labeled.id.is_unique
    assert set(labeled.label) == {"good", "bad"}
    assert set(labeled.format) == {"text", "json"}
    names = {"schema", "business_rules", "grounding", "safety"}
    assert all(set(v) <= names for v in labeled.violations)
    assert (labeled[labeled.label == "good"].violations.map(len) == 0).all()
    assert (labeled[labeled.label == "bad"].violations.map(len) > 0).all()
    wrong_but_valid = labeled[(labeled.label == "bad") & (labeled.kind != "malformed_json")]
    assert len(wrong_but_valid) >= 40
    assert {"wrong_price", "superseded", "unretrieved_source", "invented", "personal_data", "echoed_injection"} <= set(
        labeled.kind
    )


def test_score_validators_counts_by_hand():
    import pandas as pd

    labeled = pd.DataFrame(
        [
            {
                "id": "a",
                "question": "Hub price?",
                "output": "The Hub costs $99.00.",
                "format": "text",
                "context": [list(HUB[0])],
                "label": "good",
                "kind": "correct",
                "violations": [],
            },
            {
                "id": "b",
                "question": "Hub price?",
                "output": "The Hub costs $89.00.",
                "format": "text",
                "context": [list(HUB[0])],
                "label": "bad",
                "kind": "wrong_price",
                "violations": ["business_rules", "grounding"],
            },
            {
                "id": "c",
                "question": "Warranty?",
                "output": "A 1-year warranty for devices bought in 2024.",
                "format": "text",
                "context": [["policies/warranty.md", "1 year before 2023, 2 years from 2024."]],
                "label": "bad",
                "kind": "superseded",
                "violations": ["business_rules"],
            },
        ]
    )
    results, summary = score_validators(labeled, [business_rules(TODAY), Grounding()])
    # business rules: flags b only -> tp 1, fp 0, fn 1 (c is a blind spot) -> precision 1, recall 0.5
    assert summary.loc["business_rules"].to_dict() == {
        "items": 3,
        "violations": 2,
        "flagged": 1,
        "precision": 1.0,
        "recall": 0.5,
    }
    assert summary.loc["grounding"].to_dict() == {
        "items": 3,
        "violations": 1,
        "flagged": 1,
        "precision": 1.0,
        "recall": 1.0,
    }
    assert len(results) == 6


def test_bundled_validators_on_the_labeled_set():
    """The figures notebook 04 reports: precision and recall per validator on the labeled set."""
    # A demonstration, not a quality estimate: these outputs were written with the rules. The
    # validators on the pipeline's own answers are benchmarks/bench_validators_real.py's.
    _, summary = score_validators(load_labeled_outputs(), validators(CitedAnswer, TODAY))
    assert summary[["precision", "recall"]].round(3).to_dict("index") == {
        "schema": {"precision": 1.0, "recall": 1.0},
        "business_rules": {"precision": 0.955, "recall": 0.955},
        "grounding": {"precision": 1.0, "recall": 0.821},
        "safety": {"precision": 1.0, "recall": 0.923},
    }
