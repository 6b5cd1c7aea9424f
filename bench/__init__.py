"""Benchmarks of the sync against the LimeSurvey double: ``python -m bench`` (see README)."""
