"""Evaluating an export as the service answers: the funnel evaluation and the export's gate.

They load an export (written by ``serving.export``) into the service's own
engine (``serving.engine``), so they sit above both: the exporter and the
service are siblings that share ``serving.contract`` and
``serving.ranking_rows`` and never import each other, while ``orders``
(``funnel evaluate funnel``) and ``gate`` (run by ``funnel export --data``
between build and publish) import from both.
"""
