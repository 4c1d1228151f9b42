"""The terminal's log handler in quiet mode (the CLI's default): Prefect's warnings and errors as short
`movavg: warning: ...` lines, wrapped between words at the terminal's width, instead of Prefect's timestamped
`| WARNING | Task run 'ingest-3f2' - ...` lines that the terminal wraps mid-word. Configured through Prefect's
logging settings (`PREFECT_LOGGING_HANDLERS_CONSOLE_CLASS`), so it also applies in processes a run starts."""

from __future__ import annotations

import logging

from prefect.logging.handlers import PrefectConsoleHandler
from rich.markup import escape

HANDLER = "movavg.cli.logs.TerminalHandler"


class TerminalHandler(PrefectConsoleHandler):
    """One line per record, `movavg: <level>: <message>`, word-wrapped by rich; never raises."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = escape(record.getMessage())
            self.console.print(f"movavg: {record.levelname.lower()}: {text}", soft_wrap=False, highlight=False)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
