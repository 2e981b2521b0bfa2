"""A prompt playground: edit a spec in text areas, run it on a few evaluation questions beside the baseline.

    >>> Playground().widget        # doctest: +SKIP

Runs go through `experiments.run_experiment` under the experiment name "playground", so the
baseline is answered once and every edit that was tried before comes back from the results file.
An edit that makes an invalid spec shows the error instead of running. Not here: saving specs
(PromptSpec.save) or the full measurement (run_experiment over the sample, compare).
"""

from __future__ import annotations

from ..errors import ToolkitError
from ..prompting.spec import DEFAULT_SPEC, SCHEMAS, PromptSpec

__all__ = ["Playground", "edited_spec"]


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
    """The editor (`widget`) and its runner (`run`), apart so a test can drive it without a browser."""

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
        area = dict(layout=w.Layout(width="100%"))
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
        self.button = w.Button(description="Run beside the baseline", button_style="primary")
        self.output = w.Output()
        self.button.on_click(lambda _: self._show())
        self.spec = spec
        self.widget = w.VBox(
            [
                self.role,
                self.instructions,
                self.constraints,
                w.HBox([self.context_format, self.output_format, self.n]),
                self.button,
                self.output,
            ]
        )

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

    def _show(self) -> None:
        from IPython.display import HTML, display

        self.output.clear_output()
        with self.output:
            try:
                spec = self.current_spec()
                display(
                    HTML(
                        f"<p>edited spec version <code>{spec.version}</code>, baseline "
                        f"<code>{self.baseline.version}</code></p>"
                    )
                )
                display(self.run())
            except ToolkitError as exc:
                display(HTML(f"<p style='color:#b00'>Not run: {exc}</p>"))
