"""The bounded load test against the real served pipeline, and where a curve saturates."""

from __future__ import annotations

import pandas as pd

from toolkit.monitoring import load_test, saturation

RETURNS = "How long do I have to return an item?"


def test_the_load_test_measures_each_level(url):
    cleared = []
    curve = load_test(
        url,
        [RETURNS, "How much does the Plug Mini cost?"],
        clients=(1, 2),
        requests=4,
        before_level=lambda: cleared.append(1),
    )
    assert curve.index.tolist() == [1, 2]
    assert curve.requests.tolist() == [4, 4] and curve.errors.tolist() == [0, 0]
    assert (curve.throughput_rps > 0).all() and (curve.p50_s <= curve.p99_s).all()
    assert saturation(curve) in (1, 2) and cleared == [1, 1]


def test_saturation_is_where_throughput_stops_growing():
    curve = pd.DataFrame({"throughput_rps": [1.0, 1.5, 1.6, 3.0]}, index=[1, 2, 4, 8])
    assert saturation(curve) == 2  # 1.6 is less than 10% above 1.5
    assert saturation(pd.DataFrame({"throughput_rps": [1.0, 2.0, 4.0]}, index=[1, 2, 4])) == 4
