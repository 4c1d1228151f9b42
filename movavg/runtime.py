"""Process-wide defaults applied by the CLI before Prefect or TensorFlow are imported."""

from __future__ import annotations

import os

DEFAULTS = {
    # A cold ephemeral Prefect API takes ~20 s to start on 2 cores; Prefect's default timeout is 20 s.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def configure_environment() -> None:
    """Set the defaults above unless the user already set them."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
