"""The cache's keys: question normalisation, guard terms, fingerprints and the exact key, by hand."""

from __future__ import annotations

import hashlib

import pytest

from toolkit.cost.cache_keys import (
    CacheRequest,
    content_words,
    context_fingerprint,
    corpus_fingerprint,
    digest,
    guard_terms,
    model_params,
    normalize,
    prompt_version,
    wording_conflict,
)


def test_normalize_folds_case_spacing_and_end_punctuation():
    assert normalize("  How LONG do I have to\treturn an item?? ") == "how long do i have to return an item"
    assert normalize("Where\u2019s my order TW-1?") == "where's my order tw-1"
    assert normalize("Is shipping free over $50?") != normalize("Is shipping free under $50?")


@pytest.mark.parametrize(
    "question, terms",
    [
        ("Is shipping free over $50?", {"over", "$50"}),
        ("Is shipping free under $50?", {"under", "$50"}),
        ("Can't I return a refurbished device?", {"not"}),
        ("Where is my order TW-1048821?", {"tw-1048821"}),
        ("When was hub firmware 5.0.0 released?", {"5.0.0"}),
        ("How long is the sabbatical after five years?", {"after", "5"}),
        ("How do I reset a Glow bulb?", set()),
    ],
)
def test_guard_terms(question, terms):
    assert guard_terms(question) == terms


def test_guard_terms_include_named_entities():
    entities = ["Plug Mini", "Sentry Cam"]
    assert guard_terms("Which Wi-Fi band does the Plug Mini need?", entities) == {"plug mini"}
    assert guard_terms("Which Wi-Fi band does the Sentry Cam need?", entities) == {"sentry cam"}


def test_fingerprints_change_with_what_they_cover():
    assert prompt_version("Answer briefly.") == prompt_version("Answer briefly.")
    assert prompt_version("Answer briefly.") != prompt_version("Answer in one word.")
    assert len(prompt_version("x")) == 12
    one = [("returns.md", "30 days.")]
    assert context_fingerprint(one) != context_fingerprint([("returns.md", "14 days.")])
    assert context_fingerprint(one + [("a.md", "x")]) != context_fingerprint([("a.md", "x")] + one)  # order counts
    assert corpus_fingerprint({"a": "1", "b": "2"}) == corpus_fingerprint({"b": "2", "a": "1"})


def test_model_params_read_generation_settings(llm):
    params = model_params(llm)
    assert params["temperature"] == 0.0 and params["max_tokens"] == 64 and params["seed"] == 0
    assert params["stop"] == ["\n\n", "\nQuestion:"]


def test_digest_is_sha256_of_the_json_parts():
    assert digest("a", 1) == hashlib.sha256(b'["a", 1]').hexdigest()
    assert digest({"b": 2, "a": 1}) == digest({"a": 1, "b": 2})  # keys sorted
    assert prompt_version("Answer briefly.") == digest("Answer briefly.", "rag_messages/1")[:12]
    assert prompt_version("Answer briefly.") != prompt_version("Answer briefly.", "rag_messages/2")


def test_the_exact_key_is_the_normalised_question_and_what_decides_the_answer():
    def request(question="How long do I have to return an item?", **changes):
        fields = (
            dict(
                prompt_version="v1",
                model="local:m",
                params={"temperature": 0.0},
                context_fp="ctx",
                files={"returns.md": "a" * 64},
                sources=("returns.md",),
            )
            | changes
        )
        return CacheRequest(question, **fields)

    base = request()
    assert base.normalized == "how long do i have to return an item"
    assert base.key == digest("how long do i have to return an item", "v1", "local:m", {"temperature": 0.0}, "ctx")
    assert request("  how long do I have to return an item?? ").key == base.key
    # the corpus and the cited sources decide whether an entry is still valid, not which entry it is
    assert request(files={}, sources=()).key == base.key
    assert base.corpus == corpus_fingerprint({"returns.md": "a" * 64}) != request(files={}).corpus
    # the prefix groups the entries a semantic match may come from: same prompt, model and parameters
    assert (
        request("Is shipping free?", context_fp="other").prefix
        == base.prefix
        == digest("v1", "local:m", {"temperature": 0.0})[:32]
    )
    assert request(model="local:other").prefix != base.prefix


def test_content_words_drop_stop_words_and_fold_possessives_and_stems():
    assert content_words("Hi, how do I turn off the hub's LEDs?") == ["turn", "off", "hub", "led"]
    assert content_words("How many Thermo Room Sensors can be paired with one thermostat?") == [
        "mani",  # NLTK's list has no "many": a content word, stemmed
        "thermo",
        "room",
        "sensor",
        "pair",
        "1",
        "thermostat",
    ]


@pytest.mark.parametrize(
    "stored, asked, conflict",
    [
        # the bundled look-alikes: no corpus word list, the replaced word is what tells them apart
        (
            "What is the default heating Away temperature?",
            "What is the default cooling Away temperature?",
            "words replaced: 'heat' / 'cool'",
        ),
        ("Who is Tidewell's CTO?", "Who is Tidewell's CEO?", "words replaced: 'cto' / 'ceo'"),
        ("How do I pair a Drip Sentinel?", "How do I unpair a Drip Sentinel?", "words replaced: 'pair' / 'unpair'"),
        ("Is the return label free?", "Is the return label never free?", "guard terms differ: - / 'never'"),
        (
            "Can I return an item after 30 days?",
            "Can I return an item within 30 days?",
            "guard terms differ: 'after' / 'within'",
        ),
        # PAWS-Wiki dev, pair 164 (label 0, held-out half): the same words with two places swapped
        (
            "Slough High School was a girls selective grammar school in Berkshire , now Slough , Buckinghamshire .",
            "Slough High School was a selective girls ' grammar school in Slough , Buckinghamshire , now Berkshire .",
            "same words in another order: 'slough high school girl select grammar school in berkshir slough "
            "buckinghamshir' / 'slough high school select girl grammar school in slough buckinghamshir berkshir'",
        ),
        # PAWS-Wiki dev, pair 4669 (label 0): "following" and "after" are not the same guard terms
        (
            "Following the invasion of Poland by Nazi - Germany and the Soviet Union in 1939 , Osterwa became "
            "active in underground education , but was also sick .",
            "After the invasion of Poland by Nazi - Germany and the Soviet Union in 1939 , Osterwa was active in "
            "underground education , but also became ill .",
            "guard terms differ: - / 'after'",
        ),
        # paraphrases the check lets through: chat noise, and PAWS-Wiki pair 967 (label 1)
        ("How long do I have to return an item?", "hi, how long do I have to return an item? thanks", ""),
        (
            "After 2014 , more Ukrainians from eastern Ukraine , more men , and more younger Ukrainians have "
            "been working in Poland .",
            "After 2014 , more Ukrainians from eastern Ukraine , more men and more younger Ukrainians have "
            "worked in Poland .",
            "",
        ),
        # and one it refuses: a synonym is a replaced word too (the check's cost, counted in RESULTS.md)
        (
            "How long does a device stay in pairing mode?",
            "How long does a device remain in pairing mode?",
            "words replaced: 'stay' / 'remain'",
        ),
    ],
)
def test_wording_conflict(stored, asked, conflict):
    assert wording_conflict(stored, asked) == conflict
