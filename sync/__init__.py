"""Pingyi: LimeSurvey appraisal responses into the district's records database.

The flow, one module per step: ``limesurvey`` (RC2 client) -> ``pull`` (id windows and
cursors) -> ``map`` (pure: row + binding + catalogue) -> ``store`` (one transaction per
window) -> ``score`` / ``ledger`` (results and rectification).
"""

__version__ = "0.1.0"
