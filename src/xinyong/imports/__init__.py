"""Bulk-file imports (CSV, XLSX) as resumable jobs: parsing, job runner, report, templates."""
