"""OTLP/HTTP ingest: OpenTelemetry logs, metrics and traces as OASIS signals.

`wire` decodes and encodes bodies (protobuf and the JSON mapping); `logs`, `metrics` and
`spans` map the records (docs/otlp.md has the table); `receiver.OtlpReceiver` stores them
through the ingest path and answers with OTLP's partial success. Nothing is imported
here, so the settings (`settings.OtlpSettings`, read by oasis.config) load without
protobuf.
"""
