"""The regression template, end to end: laid out for a small foreign corpus written here (a community
observatory, not Tidewell), checked by the command line, by pytest and by a changed corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import PROJECT, write_files
from toolkit.__main__ import main

OBSERVATORY = {
    "visiting.md": "# Visiting\n\nPublic viewing nights are held every Friday from 8 pm to 11 pm.\n",
    "membership.md": "# Membership\n\nAn annual membership costs $45 and includes telescope training.\n",
    "telescopes.txt": "The main dome houses a 40 cm reflector telescope built in 1987.\n",
    "parking.md": "# Parking\n\nFree parking is available at the north gate of the campus.\n",
}
QUESTIONS = [
    ("o1", "When are public viewing nights held?", "every Friday", ["visiting.md"], True),
    ("o2", "How much does an annual membership cost?", "$45", ["membership.md"], True),
    ("o3", "How large is the reflector telescope in the main dome?", "40 cm", ["telescopes.txt"], True),
    ("o4", "Where can visitors park?", "north gate", ["parking.md"], True),
]


@pytest.fixture
def suite(tmp_path):
    corpus = write_files(tmp_path / "observatory", OBSERVATORY)
    questions = tmp_path / "questions.jsonl"
    lines = [
        dict(id=i, question=q, answer=a, aliases=[], sources=s, category="visitor", difficulty="easy", answerable=ok)
        for i, q, a, s, ok in QUESTIONS
    ]
    questions.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    folder = tmp_path / "suite"
    assert main(["regress", "init", str(folder), "--corpus", str(corpus), "--questions", str(questions)]) == 0
    return folder, corpus


def test_the_template_is_laid_out_with_its_first_baseline(suite, capsys):
    folder, _ = suite
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert names == [
        ".github/workflows/regression.yml",
        "README.md",
        "baseline.json",
        "conftest.py",
        "pipeline.yaml",
        "questions.jsonl",
        "regression.ipynb",
        "replay.json",
        "test_regression.py",
    ]
    assert "corpus: ../observatory" in (folder / "pipeline.yaml").read_text(encoding="utf-8")
    baseline = json.loads((folder / "baseline.json").read_text(encoding="utf-8"))
    assert baseline["metrics"]["accuracy"] == {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0, "questions": 4}
    assert [o["answer"] for o in baseline["outcomes"]] == [
        "Public viewing nights are held every Friday from 8 pm to 11 pm.",
        "An annual membership costs $45 and includes telescope training.",
        "The main dome houses a 40 cm reflector telescope built in 1987.",
        "Free parking is available at the north gate of the campus.",
    ]
    assert len(json.loads((folder / "replay.json").read_text(encoding="utf-8"))["entries"]) == 4
    assert (
        main(["regress", "init", str(folder), "--corpus", str(folder), "--questions", str(folder / "questions.jsonl")])
        == 2
    )
    assert "already holds a suite" in capsys.readouterr().err


def test_check_passes_unchanged_and_fails_on_a_changed_corpus(suite, capsys):
    folder, corpus = suite
    capsys.readouterr()
    assert main(["regress", "check", str(folder)]) == 0
    assert "PASS: the pipeline holds its baseline" in capsys.readouterr().out
    # The same check with the files named, and a second baseline written from the same run.
    pipeline, baseline, replay = (str(folder / name) for name in ("pipeline.yaml", "baseline.json", "replay.json"))
    assert main(["regress", "--pipeline", pipeline, "--baseline", baseline, "--replay", replay, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "held"
    second = str(folder / "second.json")
    questions = str(folder / "questions.jsonl")
    assert (
        main(["regress", "--pipeline", pipeline, "--questions", questions, "--baseline", second, "--update-baseline"])
        == 0
    )
    assert "wrote the baseline second.json: accuracy 1.000 [1.000, 1.000]" in capsys.readouterr().out
    assert json.loads((folder / "second.json").read_text(encoding="utf-8"))["questions_file"] == "questions.jsonl"
    assert main(["regress", "--pipeline", pipeline]) == 2
    assert "usage: python -m toolkit regress --pipeline FILE --baseline FILE" in capsys.readouterr().err

    # The corpus changes under the baseline: the membership price is gone from its page.
    (corpus / "membership.md").write_text("# Membership\n\nMembers get telescope training.\n", encoding="utf-8")
    assert main(["regress", "check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "FAIL: the pipeline regressed" in out
    assert "accuracy       1.000 [1.000, 1.000] -> 0.750 (-0.250): dropped below its interval" in out
    assert "o2 correct -> abstained: How much does an annual membership cost?" in out
    assert "the text shown from membership.md differs (the corpus changed" in out

    # As with a paid model: the changed request is not answered, and the exit code says so.
    from toolkit.evaluation.suite import check_suite

    report = check_suite(folder, allow_calls=False)
    assert (report.status, report.exit_code) == ("missed the recording", 3)
    # every question was shown membership.md among its three blocks, so every request changed
    assert len(report.misses) == 4
    assert all(
        m.endswith(
            "the text shown from membership.md differs (the corpus changed, or another chunk of it was retrieved)"
        )
        for m in report.misses
    )


def test_check_needs_a_suite(tmp_path, capsys):
    assert main(["regress", "check", str(tmp_path)]) == 2
    assert "holds no pipeline.yaml; lay a suite out first" in capsys.readouterr().err


def test_the_template_files_are_the_ones_documented():
    template = Path(PROJECT) / "templates" / "regression"
    readme = (template / "README.md").read_text(encoding="utf-8")
    for name in ("pipeline.yaml", "questions.jsonl", "baseline.json", "replay.json", "regression.ipynb"):
        assert f"`{name}`" in readme
