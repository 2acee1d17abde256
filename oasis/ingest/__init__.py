"""Getting signals in: files, stdin and HTTP bodies, with per-record rejection."""

from oasis.ingest.pipeline import BodyError, Ingestor, IngestReport, Rejection
from oasis.ingest.sources import open_source
from oasis.ingest.window import TimeWindow

__all__ = ["BodyError", "IngestReport", "Ingestor", "Rejection", "TimeWindow", "open_source"]
