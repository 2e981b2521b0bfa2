"""The suite's regression test: the pipeline must hold its baseline (see README.md)."""

from pathlib import Path


def test_pipeline_holds_its_baseline(regression):
    regression.check(Path(__file__).parent).assert_holds()
