"""The prompt playground: an edit run beside the baseline on a few questions, the spec an edit makes,
and the result as a participant reads it: answers whole, escaped, their differences marked."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import TINY_QUESTIONS
from toolkit.config import load_settings
from toolkit.notebook.playground import answers_html, mark_differences
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
    # The extractive answerer reads only numbered context: with delimited context it abstains.
    # A click shows both answers whole, each marked where it differs from the other.
    playground.context_format.value = "delimited"
    playground.button.click()
    shown = playground.result.value
    assert f"<code>{playground.current_spec().version}</code>" in shown
    assert (
        "<td>t1</td><td>How long do I have to return an item?</td><td>30 days</td>"
        "<td><del>You can return an item within 30 days of delivery for a full refund.</del></td>"
        "<td><ins>I don&#x27;t know.</ins></td><td>yes</td><td>no</td>"
    ) in shown
    assert "<td><del>The Plug Mini costs $24.99.</del></td><td><ins>I don&#x27;t know.</ins></td>" in shown
    assert not playground.button.disabled  # ready for the next edit
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


def test_differences_are_marked_word_by_word():
    # words: [Returns, take, 30, days, by, mail.] and [Returns, take, 14, days, by, mail, or, in, store.]:
    # "30" became "14", and "mail." became "mail or in store." (the full stop sits on the word)
    assert mark_differences("Returns take 30 days by mail.", "Returns take 14 days by mail or in store.") == (
        "Returns take <del>30</del> days by <del>mail.</del>",
        "Returns take <ins>14</ins> days by <ins>mail or in store.</ins>",
    )
    # the spaces and line breaks around the words are each answer's own, kept
    assert mark_differences("One two\nthree", "One\ntwo  four") == (
        "One two\n<del>three</del>",
        "One\ntwo  <ins>four</ins>",
    )
    assert mark_differences("Same.", "Same.") == ("Same.", "Same.")
    assert mark_differences("", "I don't know.") == ("", "<ins>I don&#x27;t know.</ins>")


def test_answer_text_is_escaped_marked_or_not():
    assert mark_differences("a <b>", "a &") == ("a <del>&lt;b&gt;</del>", "a <ins>&amp;</ins>")
    assert mark_differences("<i>x</i> 30", "<i>x</i> 14") == (
        "&lt;i&gt;x&lt;/i&gt; <del>30</del>",
        "&lt;i&gt;x&lt;/i&gt; <ins>14</ins>",
    )


def test_the_result_table_shows_every_text_whole_and_escaped():
    long = (
        "<script>alert(1)</script> Returns take 30 days by mail or in store, and the label is free "
        "for every order over $75 shipped in the country."
    )  # 138 characters: the table used to cut an answer at 80
    table = pd.DataFrame(
        [
            {
                "id": "q1",
                "question": "What does <script> do?",
                "gold": "30 days",
                "baseline answer": "Returns take 30 days by mail.",
                "edited answer": long,
                "baseline correct": True,
                "edited correct": False,
            }
        ]
    )
    shown = answers_html(table)
    assert "<script" not in shown  # model output is shown as text, never run
    assert (
        "<tr><td>q1</td><td>What does &lt;script&gt; do?</td><td>30 days</td>"
        "<td>Returns take 30 days by <del>mail.</del></td>"
        "<td><ins>&lt;script&gt;alert(1)&lt;/script&gt;</ins> Returns take 30 days by <ins>mail or in store, and "
        "the label is free for every order over $75 shipped in the country.</ins></td><td>yes</td><td>no</td></tr>"
    ) in shown
    assert "<th>baseline answer</th><th>edited answer</th>" in shown
    assert "<del>struck out</del>: only in the baseline's answer" in shown  # the legend
    assert "white-space:pre-wrap;overflow-wrap:anywhere" in shown  # cells wrap; nothing is cut
