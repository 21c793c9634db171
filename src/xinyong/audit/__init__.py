"""Hash-chained, tamper-evident audit log."""
