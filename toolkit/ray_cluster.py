"""Joining or starting the Ray cluster that ingestion and evaluation spread their work over.

`ray` is optional (`pip install 'llm-pipeline-toolkit[ray]'`); nothing imports it unless a
configuration asks for Ray. A cluster started here is this machine's alone: no dashboard, no
usage statistics, no other node. Ray 2.60's own servers (GCS, raylet, workers) still listen on
every interface, whatever `_node_ip_address` says (Ray replaces 127.0.0.1 with the node's IP;
ray-project/ray#59852 binds them to the node IP in later releases), with Ray's token
authentication on by default: on a shared network, a firewall is what keeps them private.

    >>> ray_config(3)
    RayConfig(workers=3, address=None)
    >>> ray_config(None) is None
    True

Not here: what runs on the cluster (ingestion/ray_ingest.py, evaluation/ray_eval.py).
"""

from __future__ import annotations

import logging
import os

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigError, require

__all__ = ["RayConfig", "ray_config", "connect", "cpus_per_worker"]


class RayConfig(BaseModel):
    """Where chunk embedding and evaluation questions run: N Ray workers, each loading its models once
    (the `ray` field of a PipelineConfig)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workers: int = Field(2, ge=1, description="Ray workers (actors); each gets cores / workers threads")
    address: str | None = Field(
        None, description="None: start a local cluster in this process; 'auto' or 'ray://host:port': join one"
    )


def ray_config(value) -> RayConfig | None:
    """`value` as a RayConfig: a RayConfig, a number of workers, a mapping of its fields, or None (no Ray)."""
    if value is None or isinstance(value, RayConfig):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, dict)):
        raise ConfigError(f"ray={value!r}: give a number of workers, a RayConfig or None")
    return RayConfig(workers=value) if isinstance(value, int) else RayConfig(**value)


def connect(config: RayConfig):
    """The `ray` module, connected: to the cluster already joined in this process, to the one at
    `config.address`, or to a local one started now (it lives until this process exits)."""
    ray = require("ray", "ray")
    # Ray's notice that token authentication is on (by default, as it should be) stays out of the
    # caller's output; warnings of real trouble still come through.
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
    if not ray.is_initialized():
        # Set before Ray starts: its processes read these from the environment.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        if config.address is None:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=config.address, log_to_driver=False, configure_logging=False)
    return ray


def cpus_per_worker(ray, workers: int) -> int:
    """The cluster's cores shared among `workers`: each Ray worker's torch threads and CPU claim.

    One machine's cores split among its workers, so that N workers with C/N threads each use the
    cores once, as the single process does with C threads."""
    cores = int(ray.cluster_resources().get("CPU", 1))
    return max(1, cores // workers)
