"""A prompt playground: edit a spec in text areas, run it on a few evaluation questions beside the baseline.

    >>> Playground().widget        # doctest: +SKIP

Runs go through `experiments.run_experiment` under the experiment name "playground", so the
baseline is answered once and every edit that was tried before comes back from the results file.
The answers show whole (wrapped, never cut), with the words where the two answers differ marked
(`mark_differences`, difflib word by word). An edit that makes an invalid spec shows the error
instead of running. Not here: saving specs (PromptSpec.save) or the full measurement
(run_experiment over the sample, compare).
"""

from __future__ import annotations

import difflib
import html
import re

from ..errors import ToolkitError
from ..prompting.spec import DEFAULT_SPEC, SCHEMAS, PromptSpec

__all__ = ["Playground", "edited_spec", "mark_differences", "answers_html"]

_WORD = re.compile(r"\S+")
# One <style> in the result's HTML, scoped to its wrapper: the cells wrap (pre-wrap keeps a model's
# line breaks, overflow-wrap breaks a long URL) instead of being cut, and the marks carry a tint as
# well as the browser's strike-through and underline (not colour alone); a faint strike keeps a whole
# struck answer readable. Translucent tints read on dark themes too.
_STYLE = (
    "<style>"
    ".toolkit-playground-result table{width:100%;table-layout:fixed;border-collapse:collapse}"
    ".toolkit-playground-result th,.toolkit-playground-result td{text-align:left;vertical-align:top;"
    "padding:4px 6px;line-height:1.4;border-bottom:1px solid var(--jp-border-color2,#ddd)}"
    ".toolkit-playground-result td{white-space:pre-wrap;overflow-wrap:anywhere}"
    ".toolkit-playground-result p{line-height:1.4}"
    ".toolkit-playground-result del{background:rgba(255,70,70,.25);text-decoration-color:rgba(200,0,0,.5)}"
    ".toolkit-playground-result ins{background:rgba(40,170,70,.25)}"
    "</style>"
)
_COLUMNS = {  # the result table's columns and their share of the width
    "id": 5,
    "question": 17,
    "gold": 10,
    "baseline answer": 25,
    "edited answer": 25,
    "baseline correct": 9,  # room for the header's longest word, "baseline", unbroken
    "edited correct": 9,
}
_LEGEND = "<del>struck out</del>: only in the baseline's answer · <ins>underlined</ins>: only in the edit's answer"


def _marked(text: str, words: list[re.Match], runs: list[tuple[int, int]], tag: str) -> str:
    """`text` escaped, each run of words (first, end) wrapped in `<tag>`; the text between is kept as is."""
    out, at = [], 0
    for first, end in runs:
        start, stop = words[first].start(), words[end - 1].end()
        out += [html.escape(text[at:start]), f"<{tag}>{html.escape(text[start:stop])}</{tag}>"]
        at = stop
    return "".join([*out, html.escape(text[at:])])


def mark_differences(baseline: str, edited: str) -> tuple[str, str]:
    """Both answers as escaped HTML, compared word by word with difflib: the baseline's words the
    edit lacks in `<del>`, the edit's words the baseline lacks in `<ins>`; spaces and line breaks kept.

    >>> mark_differences("Returns take 30 days.", "Returns take 14 days.")
    ('Returns take <del>30</del> days.', 'Returns take <ins>14</ins> days.')
    """
    old, new = list(_WORD.finditer(baseline)), list(_WORD.finditer(edited))
    # autojunk off: on answers of 200 words or more it would treat common words ("the") as junk
    # and never match them, so long answers would look more different than they are.
    matcher = difflib.SequenceMatcher(None, [m[0] for m in old], [m[0] for m in new], autojunk=False)
    ops = matcher.get_opcodes()
    removed = [(i1, i2) for op, i1, i2, _, _ in ops if op in ("replace", "delete")]
    added = [(j1, j2) for op, _, _, j1, j2 in ops if op in ("replace", "insert")]
    return _marked(baseline, old, removed, "del"), _marked(edited, new, added, "ins")


def answers_html(table) -> str:
    """`Playground.run`'s table as HTML: every text escaped and shown whole, the two answers marked
    where they differ (`mark_differences`), a legend above.

    >>> answers_html(playground.run())          # doctest: +SKIP
    """
    import pandas as pd

    e = html.escape
    cols = "".join(f"<col style='width:{share}%'>" for share in _COLUMNS.values())
    head = "".join(f"<th>{e(name)}</th>" for name in _COLUMNS)
    rows = []
    for row in table.to_dict("records"):
        text = {k: "" if pd.isna(v) else str(v) for k, v in row.items()}  # a cell the pivot lacks is NaN
        baseline, edited = mark_differences(text["baseline answer"], text["edited answer"])
        cells = [e(text["id"]), e(text["question"]), e(text["gold"]), baseline, edited]
        cells += [{True: "yes", False: "no"}.get(row[k], "") for k in ("baseline correct", "edited correct")]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f"{_STYLE}<div class='toolkit-playground-result'><p>{_LEGEND}</p><table><colgroup>{cols}</colgroup>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def edited_spec(
    base: PromptSpec,
    *,
    role: str,
    instructions: str,
    constraints: str,
    context_format: str,
    output_format: str,
    name: str = "edited",
) -> PromptSpec:
    """`base` with the playground's fields: constraints one per line (blank lines dropped); JSON
    output uses `base`'s schema, else the first registered one. Raises ToolkitError on an invalid spec.

    >>> edited_spec(DEFAULT_SPEC, role="R.", instructions="", constraints="A.\\n\\nB.",
    ...             context_format="numbered", output_format="text").system
    'R. A. B.'
    """
    from pydantic import ValidationError

    schema = (base.output_schema or next(iter(SCHEMAS))) if output_format == "json" else None
    examples = base.examples if output_format == base.output_format else []  # JSON examples need JSON answers
    try:
        return PromptSpec(
            **{
                **base.model_dump(),
                "name": name,
                "role": role,
                "instructions": instructions,
                "constraints": [c.strip() for c in constraints.splitlines() if c.strip()],
                "context_format": context_format,
                "output_format": output_format,
                "output_schema": schema,
                "examples": examples,
            }
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ToolkitError(f"{'.'.join(map(str, problem['loc'])) or 'spec'}: {problem['msg']}") from exc


class Playground:
    """The editor (`widget`), its runner (`run`) and what a click shows (`render`, into `result`),
    apart so a test can drive it without a browser."""

    def __init__(
        self,
        spec: PromptSpec = DEFAULT_SPEC,
        baseline: PromptSpec = DEFAULT_SPEC,
        questions=None,
        n: int = 3,
        model: str = "local",
        name: str = "playground",
        **run_options,
    ):
        import ipywidgets as w

        from ..demo.datasets import load_questions
        from ..evaluation.answers import sample_questions

        self.baseline, self.model, self.name, self.run_options = baseline, model, name, run_options
        self.questions = sample_questions(load_questions() if questions is None else questions, 24)
        area = dict(layout=w.Layout(width="auto"))  # fills the box; 100% plus the widget's margin overflowed it
        self.role = w.Textarea(spec.role, description="role", rows=2, **area)
        self.instructions = w.Textarea(spec.instructions, description="instructions", rows=3, **area)
        self.constraints = w.Textarea(
            "\n".join(spec.constraints), description="constraints", rows=3, placeholder="one per line", **area
        )
        self.context_format = w.Dropdown(
            options=["numbered", "delimited"], value=spec.context_format, description="context"
        )
        self.output_format = w.Dropdown(options=["text", "json"], value=spec.output_format, description="output")
        self.n = w.IntSlider(n, min=1, max=len(self.questions), description="questions")
        # max-content: the default width (148 px) cut the label to "Run beside the b…".
        self.button = w.Button(
            description="Run beside the baseline",
            button_style="primary",
            tooltip="answer the first questions with the baseline and with the edit",
            layout=w.Layout(width="max-content"),
        )
        self.result = w.HTML()
        self.output = w.Output()  # an unexpected error's traceback
        self.button.on_click(lambda _: self._show())
        self.spec = spec
        self.widget = w.VBox(
            [
                self.role,
                self.instructions,
                self.constraints,
                w.HBox([self.context_format, self.output_format, self.n]),
                self.button,
                self.result,
                self.output,
            ]
        )
        self.widget.add_class("toolkit-playground")

    def current_spec(self) -> PromptSpec:
        return edited_spec(
            self.spec,
            role=self.role.value,
            instructions=self.instructions.value,
            constraints=self.constraints.value,
            context_format=self.context_format.value,
            output_format=self.output_format.value,
        )

    def run(self):
        """Answer the first `n` questions of the seeded sample with the baseline and the edit;
        one row per question: the gold answer, both answers and whether each is correct."""
        from ..evaluation.experiments import run_experiment

        edited = self.current_spec()
        baseline = self.baseline.model_copy(update={"name": "baseline"})
        results = run_experiment(
            [baseline, edited],
            self.questions.head(self.n.value),
            models=[self.model],
            name=self.name,
            **self.run_options,
        )
        table = results.pivot(index=["id", "question", "gold"], columns="cell", values=["answer", "correct"])
        table.columns = [f"{cell} {what}" for what, cell in table.columns]
        return table[["baseline answer", "edited answer", "baseline correct", "edited correct"]].reset_index()

    def render(self) -> str:
        """The run as HTML for `result`: both spec versions, the legend and the answers marked; or,
        for an invalid edit, why it was not run."""
        try:
            spec = self.current_spec()
            table = self.run()
        except ToolkitError as exc:
            return f"<p style='color:#b00'>Not run: {html.escape(str(exc))}</p>"
        return (
            f"<p>edited spec version <code>{spec.version}</code>, baseline <code>{self.baseline.version}</code></p>"
            + answers_html(table)
        )

    def _show(self) -> None:
        self.output.clear_output()
        self.button.disabled = True  # one run at a time: a second click would only queue the same work
        self.result.value = "<p><i>Running…</i></p>"
        with self.output:
            try:
                self.result.value = self.render()
            except Exception:
                self.result.value = "<p style='color:#b00'>The run failed; the error is below.</p>"
                raise  # the Output widget shows the traceback
            finally:
                self.button.disabled = False
