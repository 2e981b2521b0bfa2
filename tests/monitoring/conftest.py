"""Shared by the monitoring tests: a run store of three versions worked out by hand, and the
extractive pipeline with a run store, served on a free loopback port."""

from __future__ import annotations

import pytest

from toolkit import Pipeline, load_settings
from toolkit.models.extractive import ExtractiveLLM
from toolkit.monitoring import create_app, serve_in_thread
from toolkit.steps import RunRecord
from toolkit.tracking import RunStore


def record_run(store, label, i, *, answer, total_s, question=None):
    """Store run `label-i` (question `q{i}` unless given) under version and label `label`."""
    r = RunRecord(f"{label}-{i}", f"2026-12-01T10:{i:02d}:00+00:00", question or f"q{i}", answer=answer)
    r.total_s, r.cost_usd = total_s, 0.001
    store.record(r, version=label, label=label)
    return r


@pytest.fixture
def add_run():
    return record_run


@pytest.fixture
def store(tmp_path):
    """20 questions. A answers all; A2 is A again; B (faster) abstains on questions 0-7."""
    store = RunStore(tmp_path / "runs.sqlite")
    for i in range(20):
        record_run(store, "A", i, answer="30 days.", total_s=1.0 + i / 100)
        record_run(store, "A2", i, answer="30 days.", total_s=1.0 + i / 100)
        record_run(store, "B", i, answer="I don't know." if i < 8 else "30 days.", total_s=0.5 + i / 100)
    return store


@pytest.fixture
def pipeline(tiny_index, embed_model, tmp_path):
    """The extractive answerer over the tiny index, recording into its own run store."""
    pipeline = Pipeline(
        tiny_index,
        settings=load_settings(llm="extractive"),
        embed_model=embed_model,
        llm=ExtractiveLLM.from_embed_model(embed_model),
    )
    pipeline.store = RunStore(tmp_path / "runs.sqlite")
    return pipeline


@pytest.fixture
def url(pipeline):
    with serve_in_thread(create_app(pipeline)) as url:
        yield url
