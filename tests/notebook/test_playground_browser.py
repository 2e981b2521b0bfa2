"""The playground in a real browser, as a participant meets it: JupyterLab on loopback and Debian's
headless Chromium (the `lab` and `browser` fixtures of tests/notebook/conftest.py, which says when
it skips). The notebook builds the playground over a two-file corpus with the extractive
answerer, so a run takes seconds and needs no model. The edit is the delimited spec, which the
extractive answerer cannot read (it abstains): every answer differs from the baseline's.

The run button is clicked; then, from the DOM: the button's label is not cut, each answer is
there whole and visible (wrapped inside its cell, nothing overflowing), the differences are marked
and tinted, and markup in an answer is shown as text, never run.
"""

from __future__ import annotations

import json

from conftest import TINY_CORPUS, write_files

# One long sentence (the extractive answerer quotes whole sentences), with markup that would run
# if the answer were not escaped: innerHTML does not run <script>, but it does run onerror.
RETURNS = (
    "You can return an item within 30 days of delivery for a full refund to the card you paid with, and "
    "opened items, sale items and items sent to a parcel locker go back the same way, by mail with the "
    'prepaid label or at any of our stores <img src=x onerror="window.playgroundRan = true"> near you.'
)
QUESTIONS = [
    dict(id="r1", question="How long do I have to return an item?", answer="30 days", aliases=[],
         sources=["returns.txt"], category="policy", difficulty="easy", answerable=True),
    dict(id="s1", question="How long does standard shipping take?", answer="3 to 5 business days", aliases=[],
         sources=["shipping.txt"], category="policy", difficulty="easy", answerable=True),
]  # fmt: skip
NOTEBOOK_CODE = """\
from toolkit.config import load_settings
from toolkit.demo import load_questions
from toolkit.ingestion.incremental import ingest
from toolkit.models.providers import make_embed_model
from toolkit.notebook import Playground
from toolkit.prompting import DEFAULT_SPEC, load_spec

settings = load_settings()
embed_model = make_embed_model(settings)
index, _ = ingest("corpus", "index", settings=settings, embed_model=embed_model, show_progress=False)
Playground(spec=load_spec("delimited"), baseline=DEFAULT_SPEC, questions=load_questions("questions.jsonl"), n=2,
           model="extractive", settings=settings, index=index, embed_model=embed_model).widget
"""
# Read in the page: what a participant sees of each element, and whether anything is cut.
MEASURE = """
const shown = (e) => ({text: e.textContent, scroll: e.scrollWidth, client: e.clientWidth,
                       height: e.getBoundingClientRect().height, right: e.getBoundingClientRect().right,
                       background: getComputedStyle(e).backgroundColor,
                       decoration: getComputedStyle(e).textDecorationLine});
const root = document.querySelector('.toolkit-playground');
const cells = [...root.querySelectorAll('.toolkit-playground-result tbody tr')].map(
    (row) => [...row.querySelectorAll('td')].map(shown));
return {button: shown(root.querySelector('button.jupyter-button')), cells: cells,
        lineHeight: parseFloat(getComputedStyle(root.querySelector('.toolkit-playground-result td')).lineHeight),
        right: root.getBoundingClientRect().right, box: shown(root),
        del: [...root.querySelectorAll('td del')].map(shown), ins: [...root.querySelectorAll('td ins')].map(shown),
        images: root.querySelectorAll('.toolkit-playground-result img').length, ran: window.playgroundRan === true};
"""


def test_the_playground_shows_whole_answers_and_their_differences(lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    write_files(lab.root / "corpus", {"returns.txt": RETURNS + "\n", "shipping.txt": TINY_CORPUS["shipping.txt"]})
    (lab.root / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    lab.write_notebook("playground.ipynb", NOTEBOOK_CODE)
    with lab.explained(browser, ".toolkit-playground"):
        wait = lab.run_notebook(browser, "playground.ipynb")
        button = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".toolkit-playground button.jupyter-button")))
        button.click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".toolkit-playground-result tbody tr")))
        page = browser.execute_script(MEASURE)

        assert page["button"]["text"] == "Run beside the baseline"
        assert page["button"]["scroll"] <= page["button"]["client"], page["button"]  # the label is not cut

        # id, question, gold, baseline answer, edited answer, baseline correct, edited correct
        assert [[c["text"] for c in row] for row in page["cells"]] == [
            ["r1", "How long do I have to return an item?", "30 days", RETURNS, "I don't know.", "yes", "no"],
            ["s1", "How long does standard shipping take?", "3 to 5 business days",
             "Standard shipping takes 3 to 5 business days.", "I don't know.", "yes", "no"],
        ]  # fmt: skip
        long = page["cells"][0][3]
        assert long["height"] > 3 * page["lineHeight"], long  # wrapped over several lines, not cut to one
        assert page["box"]["scroll"] <= page["box"]["client"], page["box"]  # no sideways scrolling
        for row in page["cells"]:
            for cell in row:  # nothing wider than its cell, nor outside the widget
                assert cell["scroll"] <= cell["client"] and cell["right"] <= page["right"] + 1, cell
        answer = browser.find_element(By.XPATH, "//*[contains(@class,'toolkit-playground-result')]//tbody/tr[1]/td[4]")
        assert answer.is_displayed() and answer.text == RETURNS  # Selenium's text: what is rendered

        # Every baseline word is missing from the edit's abstention, and the other way round.
        assert [d["text"] for d in page["del"]] == [RETURNS, "Standard shipping takes 3 to 5 business days."]
        assert [i["text"] for i in page["ins"]] == ["I don't know.", "I don't know."]
        for mark, line in [(page["del"][0], "line-through"), (page["ins"][0], "underline")]:
            assert mark["background"] not in ("", "rgba(0, 0, 0, 0)", "transparent"), mark  # tinted
            assert mark["decoration"] == line, mark
        assert "struck out" in browser.find_element(By.CSS_SELECTOR, ".toolkit-playground-result p").text

        assert (page["images"], page["ran"]) == (0, False)  # the <img onerror> in the answer is text
