"""The export's gate: answers follow the ranking model only where it beat retrieval order.

``funnel export`` (with ``--data``) evaluates both orders of the same
candidates on the validation users of the staged, verified version, through
the service's own engine (:mod:`serving.evaluation.orders`), and writes the result to
its ``manifest.json`` as ``gate`` before publishing it. With ``funnel serve --order auto`` (the default) the service then
orders answers by ranking score only when ranking won (higher NDCG@10; HR@10
breaks a tie), else by retrieval score. Test users are never looked at, so
``funnel evaluate funnel`` on the test split stays an honest measure.
"""

from __future__ import annotations

import logging
from pathlib import Path

from funnel import schema

logger = logging.getLogger(__name__)

DECIDING = ("ndcg@10", "hr@10")
"""Compared in this order; the first that differs decides."""


def choose_order(result: dict) -> str:
    """``"ranking"`` when the funnel order beats retrieval order on ``DECIDING``, else ``"retrieval"``."""
    for name in DECIDING:
        if result["funnel"][name] != result["retrieval"][name]:
            return "ranking" if result["funnel"][name] > result["retrieval"][name] else "retrieval"
    return "retrieval"


def evaluate_gate(export_dir: str | Path, version: int, data_dir: str | Path,
                  candidates: int | None = None) -> dict:
    """Both orders on the validation split of ``data_dir``, and the order the service should use.

    ``candidates`` defaults to the staged manifest's (the ranker's list width); the
    manifest's ``candidates.default`` becomes what the gate evaluated."""
    from serving.evaluation.orders import evaluate_funnel

    result = evaluate_funnel(export_dir, data_dir, candidates=candidates, split=schema.VALIDATION,
                             version=version)
    order = choose_order(result)
    logger.info("gate on %d validation users: ranking NDCG@10 %.4f vs retrieval %.4f -> %s order",
                result["examples"], result["funnel"]["ndcg@10"], result["retrieval"]["ndcg@10"], order)
    return {"order": order, "split": schema.VALIDATION, "rule": "ranking if its NDCG@10 (then HR@10) "
            "on validation users beats retrieval order", "examples": result["examples"],
            "candidates": result["candidates"], "retrieval": result["retrieval"], "funnel": result["funnel"],
            "candidate_recall": result["candidate_recall"], "bootstrap": result["bootstrap"]}

