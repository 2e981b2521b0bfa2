"""`python -m toolkit review list|show|decide` as a reviewer runs it: a real subprocess over a real queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT, TOOLKIT_VARIABLES
from toolkit.validation.review import ReviewItem, SqliteReviewQueue, load_cases


def review(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in TOOLKIT_VARIABLES}
    env["TOOLKIT_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "toolkit", "review", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(PROJECT),
        timeout=120,
    )


@pytest.fixture
def seeded(tmp_path):
    """A queue at the default path of a fresh home, with three items of known priority."""
    home = tmp_path / "home"
    queue = SqliteReviewQueue(home / "review" / "queue.sqlite")
    ids = [
        queue.submit(
            ReviewItem.new(
                f"Question {n}?",
                f"Draft {n}.",
                run_id=f"run-{n}",
                pipeline_version="v1",
                context=[{"source": "policies/returns.md", "text": "Returns within 30 days."}],
                signals={"confidence": 0.4},
                reasons=["confidence 0.40 below 0.80"],
                priority=p,
            )
        )
        for n, p in enumerate([0.1, 0.9, 0.5])
    ]
    return home, queue, ids


def test_list_show_and_decide(seeded):
    home, queue, ids = seeded
    listed = review("list", "--json", "--limit", "2", home=home)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert (data["total"], data["state"], [i["id"] for i in data["items"]]) == (3, "pending", [ids[1], ids[2]])

    text = review("list", home=home).stdout.splitlines()
    assert text[0] == f"3 pending in {home / 'review' / 'queue.sqlite'} (showing 1-3)"
    assert [line.split()[0] for line in text[1:]] == [ids[1], ids[2], ids[0]]

    shown = review("show", ids[1], home=home)
    assert shown.returncode == 0 and "question: Question 1?\ndraft answer: Draft 1.\n" in shown.stdout
    assert "reasons: confidence 0.40 below 0.80\nsignals: confidence=0.4\n" in shown.stdout
    assert "  [1] policies/returns.md: Returns within 30 days." in shown.stdout

    decided = review("decide", ids[1], "--edit", "30 days", "--reviewer", "ana", "--json", home=home)
    assert decided.returncode == 0, decided.stderr
    item = json.loads(decided.stdout)
    assert (item["state"], item["final_answer"], item["reviewer"]) == ("edited", "30 days", "ana")
    assert [h["decision"] for h in item["history"]] == ["edited"]
    assert queue.get(ids[1]).state == "edited"
    assert [(c["id"], c["label"], c["answer"]) for c in load_cases(queue.cases_path)] == [(ids[1], "edited", "30 days")]

    assert review("decide", ids[0], "--approve", "--reviewer", "bo", home=home).returncode == 0
    assert json.loads(review("list", "--state", "all", "--json", home=home).stdout)["total"] == 3
    assert json.loads(review("list", "--json", home=home).stdout)["total"] == 1


def test_bad_input_exits_2_with_the_reason(seeded, tmp_path):
    home, queue, ids = seeded
    unknown = review("decide", "r-nope", "--reject", "--reviewer", "ana", home=home)
    assert unknown.returncode == 2 and "error: no review item 'r-nope'" in unknown.stderr

    assert review("decide", ids[0], "--reject", "--reviewer", "ana", home=home).returncode == 0
    again = review("decide", ids[0], "--approve", "--reviewer", "bo", home=home)
    assert again.returncode == 2 and "already rejected by ana" in again.stderr and "--force" in again.stderr
    forced = review("decide", ids[0], "--approve", "--reviewer", "bo", "--force", "--json", home=home)
    assert forced.returncode == 0
    assert [h["decision"] for h in json.loads(forced.stdout)["history"]] == ["rejected", "approved"]

    both = review("decide", ids[1], "--approve", "--reject", "--reviewer", "ana", home=home)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    nobody = review("decide", ids[1], "--approve", home=home)
    assert nobody.returncode == 2 and "--reviewer" in nobody.stderr

    missing = tmp_path / "none" / "queue.sqlite"
    shown = review("show", ids[1], "--queue", str(missing), home=home)
    assert shown.returncode == 2 and f"no review queue at {missing}" in shown.stderr
    assert review("list", "--queue", str(missing), home=home).stdout.strip() == f"{missing}: no items yet"
    assert not missing.exists()  # reading never creates a queue

    broken = tmp_path / "broken.sqlite"
    broken.write_text("not a database", encoding="utf-8")
    damaged = review("list", "--queue", str(broken), home=home)
    assert damaged.returncode == 2 and "is damaged" in damaged.stderr and "moved aside to" in damaged.stderr


def test_a_queue_in_postgresql_is_listed_and_decided_by_its_url(tmp_path, postgres_url):
    from toolkit.validation.review_postgres import review_queue

    queue = review_queue(postgres_url)
    item_id = queue.submit(ReviewItem.new("Question?", "Draft.", run_id="run-pg", priority=0.5))
    listed = review("list", "--json", "--queue", postgres_url, home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [i["id"] for i in json.loads(listed.stdout)["items"]] == [item_id]
    decided = review("decide", item_id, "--approve", "--reviewer", "ana", "--queue", postgres_url, home=tmp_path)
    assert decided.returncode == 0, decided.stderr
    assert (queue.get(item_id).state, queue.get(item_id).reviewer) == ("approved", "ana")
