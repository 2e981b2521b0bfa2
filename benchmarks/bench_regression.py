"""The regression template against the issue's targets, on a small foreign corpus written here:

1. the template's test (`pytest test_regression.py` in the suite's folder, a fresh process, offline)
   runs in under 5 minutes on 2 cores: its wall time, `--template-runs` times;
2. 20 repeated runs of the template's test on the unchanged pipeline give 0 failures (all 20
   recorded, each with its seconds and exit code; in one process, so only the first loads the models);
3. each of three injected regressions fails the check every time (`--break-runs` runs each):
   retrieval k 3 -> 1, a prompt without the citation rule, an index from a stale corpus. Each is
   checked twice: as CI runs it (the recording stands in, no model call: a miss fails with exit
   code 3) and measured (the free extractive answerer answers the changed requests; the metrics
   decide).

    python benchmarks/bench_regression.py [--repeats 20] [--break-runs 20] [--template-runs 3]

The suite answers with the extractive answerer (what `regress init` writes by default). The
break runs call the check the template's test calls (`check_suite`) in this process, so that 120
checks do not each pay for loading torch and the embedding model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import median, record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# A community observatory: six short documents, eight questions (one unanswerable).
CORPUS = {
    "visiting.md": "# Visiting\n\nPublic viewing nights are held every Friday from 8 pm to 11 pm.\n"
    "Children under 12 must come with an adult.\n",
    "membership.md": "# Membership\n\nAn annual membership costs $45 and includes telescope training.\n",
    "telescopes.txt": "The main dome houses a 40 cm reflector telescope built in 1987.\n"
    "A smaller 20 cm refractor sits in the west dome.\n",
    "parking.md": "# Parking\n\nFree parking is available at the north gate of the campus.\n",
    "weather.md": "# Weather\n\nViewing nights are cancelled when cloud cover is above 70 percent; "
    "the cancellation is posted by 5 pm.\n",
    "talks.md": "# Talks\n\nA monthly lecture on the first Tuesday covers planetary science.\n",
}
STALE = {"membership.md": "# Membership\n\nAn annual membership costs $30.\n", "weather.md": None}
QUESTIONS = [
    ("o1", "When are public viewing nights held?", "every Friday", ["visiting.md"], True),
    ("o2", "How much does an annual membership cost?", "$45", ["membership.md"], True),
    ("o3", "How large is the reflector telescope in the main dome?", "40 cm", ["telescopes.txt"], True),
    ("o4", "Where can visitors park?", "north gate", ["parking.md"], True),
    ("o5", "When is a viewing night cancelled?", "above 70 percent", ["weather.md"], True),
    ("o6", "When is the monthly lecture?", "first Tuesday", ["talks.md"], True),
    ("o7", "What telescope is in the west dome?", "20 cm refractor", ["telescopes.txt"], True),
    ("o8", "Who founded the observatory?", "", [], False),
]
CITATION_RULE = "End the answer with the number of the source you used in brackets, like [1]."


def write(folder: Path, files: dict) -> Path:
    for name, text in files.items():
        path = folder / name
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--break-runs", type=int, default=20)
    parser.add_argument("--template-runs", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = Path(tempfile.mkdtemp(prefix="bench-regression-"))
    os.environ["TOOLKIT_HOME"] = str(root / "home")
    from toolkit.__main__ import main as toolkit_main
    from toolkit.evaluation.suite import check_suite
    from toolkit.pipeline_config import PipelineConfig
    from toolkit.prompting import DEFAULT_SPEC

    corpus = write(root / "observatory", CORPUS)
    questions = root / "questions.jsonl"
    rows = [
        dict(id=i, question=q, answer=a, aliases=[], sources=s, category="visitor", difficulty="easy", answerable=ok)
        for i, q, a, s, ok in QUESTIONS
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    suite = root / "suite"
    started = time.perf_counter()
    assert toolkit_main(["regress", "init", str(suite), "--corpus", str(corpus), "--questions", str(questions)]) == 0
    init_s = time.perf_counter() - started
    # The suite's pipeline cites its sources: the citation rule joins the default prompt, then
    # the baseline and the recording are written again for it.
    spec = DEFAULT_SPEC.model_dump(mode="json", exclude_defaults=True)
    spec = {**spec, "name": "cited_default", "constraints": [*spec.get("constraints", []), CITATION_RULE]}
    config = PipelineConfig.load(suite / "pipeline.yaml").with_changes(
        spec=spec, settings={"llm": "extractive", "top_k": 3}
    )
    config.save(suite / "pipeline.yaml")
    (suite / "replay.json").unlink()
    check_suite(suite, record=True, update=True)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    template = []
    for _ in range(args.template_runs):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "test_regression.py", "-q", "-p", "no:cacheprovider"],
            cwd=suite,
            env=env,
            capture_output=True,
            text=True,
        )
        template.append({"seconds": round(time.perf_counter() - began, 2), "exit_code": done.returncode})

    # The template's own test, run again and again in one pytest process each time (pytest.main),
    # so that 20 runs pay for loading torch and the embedding model once, not 20 times.
    import pytest

    unchanged = []
    here = os.getcwd()
    os.chdir(suite)
    try:
        for _ in range(args.repeats):
            began = time.perf_counter()
            exit_code = int(pytest.main(["test_regression.py", "-q", "-p", "no:cacheprovider"]))
            unchanged.append({"seconds": round(time.perf_counter() - began, 2), "exit_code": exit_code})
    finally:
        os.chdir(here)

    stale = write(root / "observatory_stale", CORPUS)
    write(stale, STALE)
    breaks = {
        "retrieval k 3 -> 1": config.with_changes(settings={"llm": "extractive", "top_k": 1}),
        "no citation rule": config.with_changes(spec=DEFAULT_SPEC.model_dump(mode="json", exclude_defaults=True)),
        "stale corpus": config.with_changes(corpus=os.path.relpath(stale, suite)),
    }
    saved = (suite / "pipeline.yaml").read_text(encoding="utf-8")
    broken_runs = {}
    for name, broken in breaks.items():
        broken.save(suite / "pipeline.yaml")
        runs = []
        for _ in range(args.break_runs):
            for mode, allow in (("ci", False), ("measured", True)):
                began = time.perf_counter()
                report = check_suite(suite, allow_calls=allow)
                runs.append(
                    {
                        "mode": mode,
                        "seconds": round(time.perf_counter() - began, 2),
                        "status": report.status,
                        "exit_code": report.exit_code,
                        "flips": len(report.flips),
                        "misses": len(report.misses),
                    }
                )
        broken_runs[name] = {
            "ci_failed": sum(r["exit_code"] != 0 for r in runs if r["mode"] == "ci"),
            "measured_failed": sum(r["exit_code"] != 0 for r in runs if r["mode"] == "measured"),
            "runs_per_mode": args.break_runs,
            "last_measured_report": str(report).replace(str(root), "<tmp>"),
            "runs": runs,
        }
        (suite / "pipeline.yaml").write_text(saved, encoding="utf-8")
    shutil.rmtree(root, ignore_errors=True)

    load = os.getloadavg()
    record(
        "regression",
        {
            "load_average_1_5_15": [round(x, 2) for x in load],
            "contention": "shared 2-core machine: other jobs ran at the same time; see load_average",
            "questions": len(QUESTIONS),
            "documents": len(CORPUS),
            "init_s": round(init_s, 2),
            "template_test_s": {
                "median": median([t["seconds"] for t in template]) if template else None,
                "runs": template,
            },
            "unchanged": {
                "runs": len(unchanged),
                "failures": sum(r["exit_code"] != 0 for r in unchanged),
                "median_s": median([r["seconds"] for r in unchanged]),
                "all": unchanged,
            },
            "breaks": broken_runs,
        },
    )


if __name__ == "__main__":
    main()
