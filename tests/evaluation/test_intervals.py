import pytest

from toolkit.evaluation import wilson

Z2 = 1.959964**2  # the 95% normal quantile, squared


def test_wilson_at_zero_and_at_all():
    # 0 of n: upper bound z^2 / (n + z^2); n of n: its mirror
    assert wilson(0, 100) == (0.0, pytest.approx(Z2 / (100 + Z2), abs=1e-6))
    assert wilson(100, 100) == (pytest.approx(100 / (100 + Z2), abs=1e-6), 1.0)


def test_wilson_in_the_middle_by_its_formula():
    # 7 of 24 (notebook 03's few-shot accuracy): (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    p, n = 7 / 24, 24
    centre, half = p + Z2 / (2 * n), (Z2**0.5) * (p * (1 - p) / n + Z2 / (4 * n * n)) ** 0.5
    low, high = wilson(7, 24)
    assert (low, high) == (pytest.approx((centre - half) / (1 + Z2 / n)), pytest.approx((centre + half) / (1 + Z2 / n)))
    assert (round(low, 3), round(high, 3)) == (0.149, 0.492)


def test_wilson_of_nothing_is_the_whole_range():
    assert wilson(0, 0) == (0.0, 1.0)
