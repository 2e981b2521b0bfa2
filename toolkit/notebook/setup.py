"""Notebook setup: one call at the top of every notebook.

    >>> settings = setup_notebook()      # doctest: +SKIP

It fixes seeds, keeps everything offline, quiets library chatter, and sets display options,
so two runs of a notebook print the same tables.
"""

from __future__ import annotations

import logging
import os
import random
import warnings

from ..config import Settings, load_settings

__all__ = ["setup_notebook"]


def setup_notebook(seed: int = 0, **settings) -> Settings:
    """Seed, go offline, set display options; return the resolved Settings."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    import pandas as pd

    pd.set_option("display.max_colwidth", 80)
    pd.set_option("display.width", 120)
    pd.set_option("display.precision", 3)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("httpx", "sentence_transformers", "transformers", "pypdf"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import matplotlib

        matplotlib.rcParams.update({"figure.figsize": (7, 3.5), "figure.dpi": 100, "svg.hashsalt": "toolkit"})
    except ImportError:
        pass
    return load_settings(seed=seed, **settings)
