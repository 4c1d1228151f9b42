"""The terminal's log handler in quiet mode (the CLI's default): Prefect's warnings and errors as short
`movavg: warning: ...` lines, wrapped between words at the terminal's width, instead of Prefect's timestamped
`| WARNING | Task run 'ingest-3f2' - ...` lines that the terminal wraps mid-word. Configured through Prefect's
logging settings (`PREFECT_LOGGING_HANDLERS_CONSOLE_CLASS`), so it also applies in processes a run starts."""

from __future__ import annotations

import logging

from prefect.logging.handlers import PrefectConsoleHandler

HANDLER = "movavg.cli.logs.TerminalHandler"
# Prefect's own lines about a failed task or flow: the command's last line says the same once, by series
# (`run incomplete: ...`) or for the run (`run failed: ...`); `--verbose` shows them with their tracebacks.
ENGINE_ECHOES = ("Task run failed with ", "Finished in state ", "Encountered exception during execution")


class TerminalHandler(PrefectConsoleHandler):
    """One line per record, `movavg: <level>: <message>`, word-wrapped by rich, printed as it is (no markup);
    never raises."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.levelno >= logging.ERROR and text.startswith(ENGINE_ECHOES):
                return
            line = f"movavg: {record.levelname.lower()}: {text}"
            self.console.print(line, soft_wrap=False, highlight=False, markup=False)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
