"""Text normalisation and abstention, the comparisons every stage shares, on hand-worked cases."""

from __future__ import annotations

import pytest

from toolkit.text import is_abstention, normalize


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("It costs $1,299.00!  ", "it costs $1299"),
        ("$1299", "$1299"),
        ("$1,299.50", "$1299.50"),
        ("12,34 and 1,000,000", "12 34 and 1000000"),
        ("The price: $24.99.", "the price $24.99"),
        ("3.00 or 3.001", "3 or 3.001"),
        ("Version 5.12 is out.", "version 5.12 is out"),
        ("Update to 5.1.", "update to 5.1"),
        ("It\u2019s 10% off, e.g. (today)", "it's 10% off e g today"),
        ("Call 1-800-555-0100.", "call 1-800-555-0100"),
        ("A  B\tC\n", "a b c"),
        ("", ""),
    ],
)
def test_normalize(text, normalized):
    assert normalize(text) == normalized


@pytest.mark.parametrize(
    "answer, abstains",
    [
        ("I don't know.", True),
        ("I dont know", True),
        ("I don\u2019t know.", True),
        ("I do not know the answer.", True),
        ("The context does not mention a price.", True),
        ("That is not in the context.", True),
        ("Not mentioned.", True),
        ("There is no information about that.", True),
        ("I cannot answer that.", True),
        ("It is not specified in the documents.", True),
        ("The documents do not say.", True),
        ("I know: 30 days.", False),
        ("Notably, it ships in 5 days.", False),
        ("The fee is $5.", False),
        ("", False),
    ],
)
def test_is_abstention(answer, abstains):
    assert is_abstention(answer) is abstains


def test_an_abstention_is_found_inside_a_longer_answer_by_whole_words():
    assert is_abstention("Sorry, but I DON'T KNOW which plan you have.") is True
    assert is_abstention("The warranty is not stated here.") is True
    assert is_abstention("We cannot find a return window shorter than 30 days; it is 30 days.") is True  # a false alarm
    assert is_abstention("Unknown.") is False  # not one of the phrases
    assert is_abstention("I don't knowingly sell refurbished items.") is False  # "know" must end the word
