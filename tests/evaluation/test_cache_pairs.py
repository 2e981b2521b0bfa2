"""Pair files, their halves and hit rates with Wilson intervals, by hand."""

from __future__ import annotations

import pytest

from toolkit.errors import ConfigError
from toolkit.evaluation import wilson
from toolkit.evaluation.cache_pairs import half_of, hit_rates, load_pairs


def test_load_pairs_reads_crlf_and_puts_each_id_in_its_half(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"1\tA cat sat .\tA sat cat .\t0\r\n3\tHi .\tHello .\t1\r\n")
    pairs = load_pairs(path)
    assert pairs.to_dict("records") == [
        {"id": "1", "a": "A cat sat .", "b": "A sat cat .", "same": False, "half": "held-out"},
        {"id": "3", "a": "Hi .", "b": "Hello .", "same": True, "half": "tune"},
    ]


def test_a_bad_line_is_named(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("1\ta\tb\t0\n2\ta\tb\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="pairs.tsv, line 2: expected id, sentence1, sentence2, label"):
        load_pairs(path)


def test_halves_split_paws_dev_ids_about_evenly():
    halves = [half_of(str(i)) for i in range(1, 8001)]
    assert (halves.count("tune"), halves.count("held-out")) == (3948, 4052)


def test_hit_rates_with_wilson_intervals():
    rates = hit_rates([True, False, True, True], [True, True, False, False])
    assert rates == {
        "look_alike_pairs": 2,
        "false_hits": 2,
        "false_hit_rate": 1.0,
        "false_hit_rate_95ci": [round(wilson(2, 2)[0], 4), 1.0],
        "paraphrase_pairs": 2,
        "true_hits": 1,
        "true_hit_rate": 0.5,
        "true_hit_rate_95ci": [0.0945, 0.9055],
    }
