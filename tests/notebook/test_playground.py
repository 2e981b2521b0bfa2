"""The prompt playground: an edit run beside the baseline on a few questions, and the spec an edit makes."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import TINY_QUESTIONS
from toolkit.config import load_settings
from toolkit.prompting.spec import DEFAULT_SPEC, load_spec

QUESTIONS = pd.DataFrame(TINY_QUESTIONS)


def test_the_playground_runs_an_edit_beside_the_baseline(tiny_index, embed_model):
    from toolkit.errors import ToolkitError
    from toolkit.notebook.playground import Playground, edited_spec

    playground = Playground(
        questions=QUESTIONS,
        n=2,
        model="extractive",
        settings=load_settings(),
        index=tiny_index,
        embed_model=embed_model,
    )
    assert playground.current_spec().version == DEFAULT_SPEC.version  # opened on the default, unedited
    playground.constraints.value = "Answer in five words or fewer.\n\nNever guess."
    spec = playground.current_spec()
    assert spec.constraints == ["Answer in five words or fewer.", "Never guess."]
    table = playground.run()
    # the sample of 24 from 4 questions is all 4 in id order; the first n=2 run
    assert table["id"].tolist() == ["t1", "t2"]
    assert table.columns.tolist() == [
        "id",
        "question",
        "gold",
        "baseline answer",
        "edited answer",
        "baseline correct",
        "edited correct",
    ]
    assert (
        table["baseline answer"].tolist()
        == table["edited answer"].tolist()
        == ["You can return an item within 30 days of delivery for a full refund.", "The Plug Mini costs $24.99."]
    )
    # the few-shot examples of a text spec are dropped when the edit asks for JSON
    as_json = edited_spec(
        load_spec("few_shot"),
        role="R.",
        instructions="",
        constraints="",
        context_format="numbered",
        output_format="json",
    )
    assert (as_json.output_schema, as_json.examples) == ("CitedAnswer", [])
    with pytest.raises(ToolkitError, match="context_format: Input should be 'numbered' or 'delimited'"):
        edited_spec(
            DEFAULT_SPEC, role="R.", instructions="", constraints="", context_format="xml", output_format="text"
        )
