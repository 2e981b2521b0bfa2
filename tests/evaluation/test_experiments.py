"""The experiment runner over the tiny corpus with the extractive answerer (instant, deterministic),
the paired bootstrap, resuming after a crash, refusals before any call, and judges that fail."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import TINY_CORPUS, TINY_QUESTIONS, write_files
from toolkit.config import load_settings
from toolkit.errors import ExperimentError
from toolkit.evaluation.experiments import compare, grid, run_experiment, summarize_cells
from toolkit.evaluation.judge import Judge
from toolkit.ingestion.incremental import ingest
from toolkit.prompting.spec import DEFAULT_SPEC, load_spec

QUESTIONS = pd.DataFrame(TINY_QUESTIONS)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, embed_model):
    root = tmp_path_factory.mktemp("experiments")
    settings = load_settings(home=root / "home", llm="extractive")
    index, _ = ingest(
        write_files(root / "corpus", TINY_CORPUS),
        root / "index",
        settings=settings,
        embed_model=embed_model,
        show_progress=False,
    )
    return root, index


def run(tiny, embed_model, specs=("default",), **kwargs):
    kwargs.setdefault("models", ["extractive"])
    return run_experiment(
        list(specs),
        kwargs.pop("questions", QUESTIONS),
        settings=load_settings(),
        index=tiny[1],
        embed_model=embed_model,
        **kwargs,
    )


def test_one_row_per_question_and_cell_with_hand_worked_metrics(tiny, embed_model):
    results = run(tiny, embed_model, ["default", "json_output"], name="metrics")
    assert len(results) == 8 and results.attrs["computed"] == 8 and results.attrs["cached"] == 0
    default = results[results.cell == "default"].set_index("id")
    assert default.loc["t1", "answer"] == "You can return an item within 30 days of delivery for a full refund."
    assert default["correct"].tolist() == [True, True, True, True]
    assert default["exact_match"].tolist() == [False, False, False, True]  # only "I don't know." is exact
    # token F1: 2 of 14 answer tokens are "30 days" -> P 1/7, R 1 -> 0.25; "the plug mini costs $24.99"
    # holds "$24.99" -> P 1/5 -> 1/3; "every device has a 2-year limited warranty" -> P 1/7 -> 0.25
    assert default["token_f1"].tolist() == [0.25, 0.3333, 0.25, 1.0]
    # no [n] markers: the answer cites the three sources it was shown, one of them gold
    assert default.loc["t1", "cited"] == ["returns.md", "shipping.txt", "warranty.md"]
    assert default.loc["t1", "cited_by"] == "shown"
    assert default.loc["t1", "citation_precision"] == pytest.approx(1 / 3)
    assert default.loc["t1", "citation_recall"] == 1.0
    assert pd.isna(default.loc["t4", "citation_precision"])  # nothing to cite for an unanswerable question
    assert default["format_valid"].all()
    # the JSON spec: the quoting model never writes JSON; the batch goes on and says why
    as_json = results[results.cell == "json_output"]
    assert not as_json["format_valid"].any()
    assert set(as_json["format_error"]) == {"reply: no JSON object in the reply"}
    summary = summarize_cells(results)
    assert summary.loc["default", ["accuracy", "exact_match", "token_f1", "format_valid"]].tolist() == [
        1.0,
        0.25,
        0.458,
        1.0,
    ]
    assert summary.loc["json_output", "format_valid"] == 0.0


def test_citations_by_markers():
    from toolkit.evaluation.experiments import _citations
    from toolkit.prompting.spec import Parsed

    shown = ["a.md", "b.md", "a.md"]
    assert _citations(Parsed("x [2] [3] [9]", [2, 3, 9], True), shown, ["a.md"]) == {
        "cited": ["b.md", "a.md", "[9]"],
        "cited_by": "markers",
        "citation_precision": 1 / 3,
        "citation_recall": 1.0,
    }


def test_a_rerun_computes_nothing_and_gives_the_same_frame(tiny, embed_model):
    first = run(tiny, embed_model, ["default", "cited"], top_k=[1, 3], name="rerun")
    again = run(tiny, embed_model, ["default", "cited"], top_k=[1, 3], name="rerun")
    assert (first.attrs["computed"], again.attrs["computed"], again.attrs["cached"]) == (16, 0, 16)
    pd.testing.assert_frame_equal(first, again)
    assert sorted(first.cell.unique()) == ["cited k=1", "cited k=3", "default k=1", "default k=3"]
    assert first[first.cell == "default k=1"]["cited"].map(len).tolist() == [1, 1, 1, 1]
    # a new question is the only thing computed; a changed spec is a new cell
    more = pd.concat([QUESTIONS, QUESTIONS.iloc[[0]].assign(id="t5", question="Can I return an item?")])
    grown = run(tiny, embed_model, ["default", "cited"], top_k=[1, 3], questions=more, name="rerun")
    assert grown.attrs["computed"] == 4
    changed = DEFAULT_SPEC.model_copy(update={"name": "default", "constraints": []})
    assert run(tiny, embed_model, [changed], name="rerun").attrs["computed"] == 4


def test_repeats_use_their_own_seed_and_report_variance(tiny, embed_model):
    results = run(tiny, embed_model, repeats=2, name="repeats")
    assert results["repeat"].tolist() == [0, 1] * 4
    assert results["id"].tolist() == ["t1", "t1", "t2", "t2", "t3", "t3", "t4", "t4"]
    assert summarize_cells(results).loc["default", "accuracy_sd"] == 0.0  # the quoting model never varies


def test_refused_before_any_call(tiny, embed_model, toolkit_home):
    with pytest.raises(ExperimentError, match="the evaluation set is empty"):
        run(tiny, embed_model, questions=QUESTIONS.iloc[:0])
    with pytest.raises(ExperimentError, match="the evaluation set is empty"):
        run(tiny, embed_model, sample=0)
    with pytest.raises(ExperimentError, match="model 'gpt-9' in the grid cannot be used: unknown LLM provider 'gpt-9'"):
        run(tiny, embed_model, models=["extractive", "gpt-9"])
    with pytest.raises(
        ExperimentError, match="model 'openai:gpt-4o-mini' in the grid cannot be used: openai needs an API key"
    ):
        run(tiny, embed_model, models=["openai:gpt-4o-mini"])
    with pytest.raises(ExperimentError, match="model 'openai-like:mystery' in the grid cannot be used: no price for"):
        run(tiny, embed_model, models=["openai-like:mystery"])
    with pytest.raises(ExperimentError, match="question id 't1' appears twice"):
        run(tiny, embed_model, questions=pd.concat([QUESTIONS, QUESTIONS.iloc[[0]]]))
    assert not (toolkit_home / "experiments").exists()  # nothing was run, nothing was written


def test_a_torn_last_line_is_dropped_and_rerun(tiny, embed_model, toolkit_home):
    run(tiny, embed_model, name="torn")
    path = toolkit_home / "experiments" / "torn.jsonl"
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 5 and lines[-1] == b""
    path.write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:25])  # the 4th item was being written
    again = run(tiny, embed_model, name="torn")
    assert again.attrs["computed"] == 1
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == [
        json.loads(line)["key"] for line in lines[:4]
    ]


def test_a_damaged_middle_line_is_an_error_naming_it(tiny, embed_model, toolkit_home):
    run(tiny, embed_model, name="damaged")
    path = toolkit_home / "experiments" / "damaged.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", *lines[2:]]) + "\n")
    with pytest.raises(ExperimentError, match=r"damaged.jsonl, line 2 is damaged .*delete that line"):
        run(tiny, embed_model, name="damaged")


CRASHING_RUN = """
import sys, time
sys.path.insert(0, {tests!r})
from toolkit.config import load_settings
from toolkit.evaluation.experiments import run_experiment
from toolkit.ingestion.index import Index
from toolkit.models.providers import make_embed_model
import pandas as pd
from conftest import TINY_QUESTIONS
QUESTIONS = pd.DataFrame(TINY_QUESTIONS)
settings = load_settings()
print("ready", flush=True)
run_experiment(["default", "cited", "few_shot"], QUESTIONS, models=["extractive"], settings=settings,
               index=Index.open({index!r}), embed_model=make_embed_model(settings), name="crash",
               on_item=lambda row: time.sleep(0.5))
print("finished", flush=True)
"""


def test_a_killed_run_loses_at_most_the_item_in_flight(tiny, embed_model, toolkit_home):
    root, index = tiny
    script = CRASHING_RUN.format(tests=str(Path(__file__).parents[1]), index=str(root / "index"))
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    path = toolkit_home / "experiments" / "crash.jsonl"
    deadline = time.monotonic() + 240
    while not (path.exists() and path.read_text().count("\n") >= 3):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the run wrote nothing in 240 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    survived = path.read_text().count("\n")
    assert 3 <= survived < 12
    again = run(tiny, embed_model, ["default", "cited", "few_shot"], name="crash")
    assert (again.attrs["computed"], again.attrs["cached"]) == (12 - survived, survived)
    assert len(path.read_text().splitlines()) == 12


def test_paired_bootstrap_by_hand():
    rows = []
    for qid, a, b in [("q1", 1, 0), ("q2", 0, 0), ("q3", 1, 1), ("q4", 1, 0)]:
        rows += [{"cell": "new", "id": qid, "correct": bool(a)}, {"cell": "base", "id": qid, "correct": bool(b)}]
    rows += [
        {"cell": "same", "id": q, "correct": c} for q, c in [("q1", False), ("q2", False), ("q3", True), ("q4", False)]
    ]
    table = compare(pd.DataFrame(rows), baseline="base", seed=0)
    new = table.loc["new"]
    assert (new["questions"], new["mean"], new["baseline_mean"], new["delta"]) == (4, 0.75, 0.25, 0.5)
    # paired differences [1, 0, 0, 1]: a resample's mean is 0 or 1 with probability 1/16 each,
    # more than the 2.5% in each tail, so the 95% percentile interval is [0, 1]
    assert (new["ci_low"], new["ci_high"]) == (0.0, 1.0)
    assert 0.04 < new["p_not_better"] < 0.09
    same = table.loc["same"]  # identical answers: no interval to resample
    assert (same["delta"], same["ci_low"], same["ci_high"], same["p_not_better"]) == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ExperimentError, match="no cell named 'nope'; cells: new, base, same"):
        compare(pd.DataFrame(rows), baseline="nope")


def test_grid_labels_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    from toolkit.evaluation.experiments import plot_comparison

    cells = grid([DEFAULT_SPEC, load_spec("few_shot")], models=["local", "extractive"], temperature=[0.0, 0.7])
    assert [c.label for c in cells][:3] == ["default local T=0", "default local T=0.7", "default extractive T=0"]
    with pytest.raises(ExperimentError, match="same label"):
        grid([DEFAULT_SPEC, DEFAULT_SPEC])
    table = pd.DataFrame(
        {"delta": [0.1, -0.2], "ci_low": [-0.1, -0.4], "ci_high": [0.3, 0.0], "metric": "correct", "baseline": "base"},
        index=pd.Index(["a", "b"], name="cell"),
    )
    ax = plot_comparison(table)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.get_xlabel() == "difference in correct vs base (95% paired bootstrap CI)"


def test_a_judge_whose_replies_cannot_be_read_leaves_every_item_unmeasured(tiny, embed_model):
    from toolkit.models.extractive import ExtractiveLLM

    # a real model that never says CORRECT or INCORRECT: the quoting answerer replies "I don't know."
    judge = Judge(ExtractiveLLM.from_embed_model(embed_model), "extractive:quote")
    results = run(tiny, embed_model, judge=judge, name="judged")
    assert results.attrs["unmeasured"] == 4
    assert results["judge"].isna().all() and set(results["judge_reply"]) == {"I don't know."}
    assert summarize_cells(results).loc["default", "judge_unmeasured"] == 4
    assert run(tiny, embed_model, judge=judge, name="judged").attrs["computed"] == 0  # verdicts are kept


def test_a_judge_that_fails_leaves_the_item_unmeasured_and_keeps_the_answer(tiny, embed_model, toolkit_home):
    from llama_index.llms.openai_like import OpenAILike

    # a real client against a loopback port where nothing listens: every call fails to connect
    dead = OpenAILike(
        model="judge", api_base="http://127.0.0.1:9/v1", api_key="unused", is_chat_model=True, max_retries=0, timeout=2
    )
    results = run(tiny, embed_model, judge=Judge(dead, "openai-like:judge"), name="dead-judge")
    assert results.attrs["unmeasured"] == 4 and results["judge"].isna().all()
    assert results["judge_reply"].str.startswith("APIConnectionError").all()
    assert len((toolkit_home / "experiments" / "dead-judge.jsonl").read_text().splitlines()) == 4  # answers kept
    assert run(tiny, embed_model, name="dead-judge").attrs["computed"] == 0


def test_a_replay_link_in_the_middleware_answers_a_fresh_grid_from_its_recording(tiny, embed_model, tmp_path):
    from toolkit.cost import replayed

    path = tmp_path / "replay.json"
    with replayed(path, record=True) as recorded:
        first = run(tiny, embed_model, ["default", "cited"], name="replayed-1", middleware=[recorded.link()])
    assert (first.attrs["computed"], recorded.hits, len(recorded.misses)) == (8, 0, 8)
    with replayed(path) as replay:  # another results file: every item is computed again, from the recording
        again = run(tiny, embed_model, ["default", "cited"], name="replayed-2", middleware=[replay.link()])
    assert (again.attrs["computed"], str(replay)) == (8, "8 replies replayed, 0 asked of the model")
    pd.testing.assert_frame_equal(first.drop(columns="latency_s"), again.drop(columns="latency_s"))
    with pytest.raises(ExperimentError, match="middleware cannot travel to Ray workers"):
        run_experiment(["default"], QUESTIONS, models=["extractive"], ray=2, middleware=[replay.link()])
