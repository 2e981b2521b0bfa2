"""The ask-the-model baseline: a yes/no reply and its first token's probability."""

import math

from toolkit.confidence import verdict_score
from toolkit.confidence.self_check import SELF_CHECK_PROMPT


def test_yes_is_the_probability_of_the_first_token_and_no_its_complement():
    assert verdict_score("Yes.", math.log(0.8)) == 0.8
    assert verdict_score("no, it is not", math.log(0.8)) == 0.2
    assert verdict_score("YES", None) == 1.0 and verdict_score("No", None) == 0.0
    assert verdict_score("The answer is correct.", math.log(0.9)) == 0.5  # neither word: no opinion


def test_the_prompt_shows_context_question_and_the_proposed_answer():
    text = SELF_CHECK_PROMPT.format(context="Returns take 30 days.", question="How long?", answer="30 days")
    assert text.index("Returns take 30 days.") < text.index("How long?") < text.index("Proposed answer: 30 days")
    assert text.endswith("Reply with yes or no.")
