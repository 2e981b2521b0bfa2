"""Sentence pairs that measure a semantic cache: a PAWS-style file (id, sentence 1, sentence 2,
label), its deterministic halves, and false and true hit rates with Wilson intervals.

Store sentence 1, look up sentence 2: a hit on a pair that means different things (label 0) is a
false hit, a hit on a paraphrase (label 1) a true one. Choose a threshold on one half ("tune"),
report it on the other ("held-out"); `half_of` puts each id in the same half on every machine.

    >>> half_of("1"), half_of("3")
    ('held-out', 'tune')
    >>> hit_rates([True, False, True, False], [True, True, False, False])["false_hits"]
    1

Not here: the cache being measured (toolkit.cost.cache) and its wording check (cost.cache_keys).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from .intervals import wilson

__all__ = ["load_pairs", "half_of", "hit_rates"]


def load_pairs(path: str | Path):
    """A tab-separated pair file without a header (`id, sentence1, sentence2, label`, PAWS's
    layout, LF or CRLF line ends) as a DataFrame with columns id, a, b, same, half.

    >>> load_pairs("missing.tsv")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    toolkit.errors.ConfigError: pair file missing.tsv not found; ...
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"pair file {path} not found; give a tab-separated file of id, sentence1, sentence2, label")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.rstrip("\r").split("\t")
        if len(parts) != 4 or parts[3] not in ("0", "1"):
            raise ConfigError(
                f"{path}, line {number}: expected id, sentence1, sentence2, label (0 or 1), tab-separated"
            )
        rows.append({"id": parts[0], "a": parts[1], "b": parts[2], "same": parts[3] == "1"})
    pairs = pd.DataFrame(rows, columns=["id", "a", "b", "same"])
    pairs["half"] = pairs["id"].map(half_of)
    return pairs


def half_of(pair_id: str) -> str:
    """'tune' or 'held-out', by the parity of the SHA-256 of the id: fixed, and about half each."""
    return "tune" if hashlib.sha256(str(pair_id).encode("utf-8")).digest()[-1] % 2 == 0 else "held-out"


def hit_rates(hits: Sequence[bool], same: Sequence[bool]) -> dict:
    """False hits (hits on pairs that differ) and true hits (on paraphrases), with 95% Wilson
    intervals."""
    if len(hits) != len(same):
        raise ConfigError(f"hit_rates: {len(hits)} hits for {len(same)} pairs; give one per pair")
    look_alikes = sum(not s for s in same)
    paraphrases = len(same) - look_alikes
    false_hits = sum(bool(h) and not s for h, s in zip(hits, same))
    true_hits = sum(bool(h) and bool(s) for h, s in zip(hits, same))
    fl, fh = wilson(false_hits, look_alikes)
    tl, th = wilson(true_hits, paraphrases)
    return {
        "look_alike_pairs": look_alikes,
        "false_hits": false_hits,
        "false_hit_rate": round(false_hits / look_alikes, 4) if look_alikes else 0.0,
        "false_hit_rate_95ci": [round(fl, 4), round(fh, 4)],
        "paraphrase_pairs": paraphrases,
        "true_hits": true_hits,
        "true_hit_rate": round(true_hits / paraphrases, 4) if paraphrases else 0.0,
        "true_hit_rate_95ci": [round(tl, 4), round(th, 4)],
    }
