"""Reproducible measurements of smsgate (``nox -s benchmarks``); see benchmarks/README.md."""
