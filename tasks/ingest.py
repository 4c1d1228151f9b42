"""Ingest stage: validate the ready files of `incoming/` and append their good rows to the raw store.

Never cached (it always looks for new files); retried only on transient I/O errors; bad input is
quarantined by the library, never raised.
"""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from movavg.config import IngestConfig
from movavg.ingest import ingest_files
from movavg.schema import IngestResult
from movavg.tasks.policies import transient_io


@task(name="ingest", retries=2, retry_delay_seconds=2, retry_condition_fn=transient_io)
def ingest(data_dir: str, config: IngestConfig) -> IngestResult:
    """Ingest ready files into `<data_dir>/raw/`; log what was ingested, quarantined or left waiting."""
    result = ingest_files(Path(data_dir), config)
    logger = get_run_logger()
    logger.info("%s; fingerprint %s", result.headline(), result.fingerprint[:12])
    for warning in result.warnings:
        logger.warning("raw store: %s", warning)
    for entry in result.files:
        if entry["outcome"] in {"quarantined", "partial"}:
            logger.warning("%s: %s (see %s/quarantine/)", entry["file"], entry["reason"], data_dir)
    for name, why in result.waiting_why.items():
        logger.warning("%s left in incoming/: %s", name, why)
    return result
