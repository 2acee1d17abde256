"""One module per event source; `oasis.triage.parse` picks which one reads a payload."""
