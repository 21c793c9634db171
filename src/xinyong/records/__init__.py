"""Record ingestion (归集): validation, idempotency, revisions, revocation, display periods."""
