"""Process-wide defaults applied by the CLI before Prefect or TensorFlow are imported, and a quiet
TensorFlow import."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

VERBOSE = "MOVAVG_VERBOSE"
DEFAULTS = {
    # A cold ephemeral Prefect API takes ~20 s to start on 2 cores; Prefect's default timeout is 20 s.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
# Quiet by default: the terminal shows warnings and the outcome; run logs still reach the Prefect API (UI).
QUIET = {
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    # short `movavg: warning: ...` lines, wrapped between words (movavg/cli/logs.py)
    "PREFECT_LOGGING_HANDLERS_CONSOLE_CLASS": "movavg.cli.logs.TerminalHandler",
}
VERBOSE_CONSOLE = {
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "DEBUG",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_CLASS": "prefect.logging.handlers.PrefectConsoleHandler",
}


def configure_environment(verbose: bool = False) -> None:
    """Set the defaults above unless the user already set them; `verbose` keeps Prefect's INFO lines and
    TensorFlow's start-up lines on the terminal."""
    if verbose:
        os.environ[VERBOSE] = "1"
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    if os.environ.get(VERBOSE):  # also over a quiet level inherited from a parent process
        os.environ.update(VERBOSE_CONSOLE)
    else:
        for name, value in QUIET.items():
            os.environ.setdefault(name, value)


def import_tensorflow() -> None:
    """Import TensorFlow with its C++ start-up lines (the absl pre-init warning, the oneDNN and CPU-feature
    notices) kept off the terminal: no environment variable silences them, since they are written to file
    descriptor 2 before TensorFlow's own logging starts. With MOVAVG_VERBOSE set they are shown."""
    # Many models predicting in one process make tf.function warn about retracing; expected here. Set on every
    # call: TensorFlow may have been imported elsewhere first.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if "tensorflow" in sys.modules or os.environ.get(VERBOSE):
        import tensorflow

        return
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(null, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


STOP_GRACE_ENV = "MOVAVG_STOP_GRACE_SECONDS"  # set by the CLI: a run it started stops this soon after a signal


def bound_stop_on_signal() -> None:
    """With MOVAVG_STOP_GRACE_SECONDS set, make Ctrl-C (SIGINT) and SIGTERM end this process within that many
    seconds: each handler in place now (Python's, Prefect's flow-run bridge) still runs first, so the run is
    interrupted as before; if the process is still alive when the grace ends (a training thread, Prefect
    retrying calls to a local API the same signal stopped), it exits with 128 + the signal's number, and a
    second signal exits at once. Every write is a temp file renamed into place, so what the run wrote is whole
    and the next run goes on from it, as after a SIGKILL. Call it from the main thread (else it does nothing);
    calling it again wraps only handlers installed since."""
    import signal
    import threading

    grace = os.environ.get(STOP_GRACE_ENV)
    if not grace or threading.current_thread() is not threading.main_thread():
        return
    for number in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(number)
        if not getattr(previous, "bounded_stop", False):
            signal.signal(number, _bounded(previous, float(grace)))


_STOPPING = {"since": 0.0}


def _bounded(previous: Any, grace: float) -> Any:
    import signal
    import threading
    import time

    def handler(signum: int, frame: Any) -> None:
        code = 128 + signum
        if _STOPPING["since"]:
            os._exit(code)
        _STOPPING["since"] = time.monotonic()
        sys.stderr.write(
            f"movavg: {signal.Signals(signum).name}: stopping the run; what it wrote is whole and the next run "
            "goes on from it\n"
        )
        sys.stderr.flush()
        timer = threading.Timer(grace, os._exit, args=(code,))
        timer.daemon = True
        timer.start()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL and signum == signal.SIGTERM:
            os._exit(code)
        else:
            raise KeyboardInterrupt

    handler.bounded_stop = True  # type: ignore[attr-defined]
    return handler
