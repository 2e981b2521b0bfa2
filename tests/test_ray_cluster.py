"""The Ray settings: what `ray=` accepts, and what it refuses with a message that says what to give."""

import pytest

from toolkit.errors import ConfigError
from toolkit.ray_cluster import RayConfig, cpus_per_worker, ray_config


def test_ray_settings_are_checked():
    assert ray_config(3) == RayConfig(workers=3, address=None)
    assert ray_config({"workers": 1, "address": "auto"}) == RayConfig(workers=1, address="auto")
    assert ray_config(None) is None
    with pytest.raises(ConfigError, match="ray=True: give a number of workers, a RayConfig or None"):
        ray_config(True)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        RayConfig(workers=0)


def test_the_cores_are_shared_among_the_workers(ray_cluster):
    # the session's cluster has 2 CPUs: 2 workers get 1 thread each, 1 worker both, 3 workers still 1
    assert [cpus_per_worker(ray_cluster, n) for n in (1, 2, 3)] == [2, 1, 1]


def test_without_ray_installed_the_error_says_how_to_install_it(monkeypatch):
    import sys

    from toolkit.errors import MissingDependencyError
    from toolkit.ray_cluster import connect

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when it is not installed
    with pytest.raises(
        MissingDependencyError, match=r"ray is not installed; run: pip install 'llm-pipeline-toolkit\[ray\]'"
    ):
        connect(RayConfig())
