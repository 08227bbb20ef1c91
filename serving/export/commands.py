"""CLI of the export stage: ``funnel export ...``.

``funnel export --retrieval RUN --ranking RUN --out EXPORT`` (also spelt
``funnel export build ...``) writes the next export version;
``funnel export verify EXPORT`` checks it in a fresh process.

This is the one module of ``serving.export`` that reaches above it: with
``--data`` it hands the build the gate (``serving.evaluation.gate``, which runs
the service's engine on the staged version), so build, gate and publish are
orchestrated here and the exporter's other modules import no service code.
"""

from __future__ import annotations

import argparse
import sys

from funnel import flags, preflight, schema
from serving import contract
from serving.export import run_kinds
from serving.export.verify_log import verify_summary, write_verify_log

BUILD, VERIFY = "build", "verify"
VERIFY_USAGE_ERROR = 2
"""Exit code of ``python -m serving.export.verify`` when the export cannot be read at all."""


def _add_build_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("build (funnel export [build] ...)")
    group.add_argument("--retrieval", metavar="RUN", help="run folder of `funnel train retrieval` (required to build)")
    group.add_argument("--ranking", metavar="RUN",
                       help="run folder of `funnel train ranking` (required to build)")
    group.add_argument("--out", metavar="EXPORT",
                       help="export folder; a new version is added (required to build)")
    group.add_argument("--data", default=None, metavar="DIR",
                       help="pipeline output: its test split gives the held-out ScaNN queries, its "
                            "validation split the gate that decides ranking vs retrieval order "
                            "(default: histories sampled by the training item frequency, no gate, so "
                            "`funnel serve --order auto` answers in retrieval order)")
    group.add_argument("--gate-candidates", type=flags.positive_int, default=None,
                       help="candidates per validation user in the gate, which become the service's default "
                            f"(default: the ranker's list width, else {schema.DEFAULT_LIST_CANDIDATES})")
    group.add_argument("--min-recall", type=flags.number(0.0, 1.0, exclusive_minimum=True),
                       default=0.95, help="ScaNN recall@100 bar vs brute force (lowering it is recorded)")
    group.add_argument("--held-out-queries", type=flags.positive_int, default=500,
                       help="user histories the recall bar is measured on")
    group.add_argument("--serving-root", default="/models",
                       help="where TF Serving sees EXPORT (paths in models.config)")
    group.add_argument("--no-verify", action="store_true",
                       help="publish without verifying in a fresh process first (recorded in the manifest)")


def _add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("verify (funnel export verify EXPORT ...; also run after build)")
    group.add_argument("--version", type=flags.positive_int, default=None,
                       help="version to verify (default: the newest complete one)")
    group.add_argument("--tolerance", type=flags.non_negative_float, default=1e-5,
                       help="largest difference allowed between SavedModel and reference outputs")


def _gate(args):
    """The export's gate on ``--data``'s validation users, or None without ``--data``."""
    if not args.data:
        return None
    from serving.evaluation.gate import evaluate_gate

    return lambda staged, version: evaluate_gate(staged, version, args.data, args.gate_candidates)


def build_export(args) -> int:
    missing = [flag for flag, value in (("--retrieval", args.retrieval), ("--ranking", args.ranking),
                                        ("--out", args.out)) if not value]
    if missing:
        raise ValueError(f"funnel export needs {', '.join(missing)}")
    preflight.run_folder(args.retrieval, "--retrieval", "funnel train retrieval")
    preflight.run_folder(args.ranking, "--ranking", "funnel train ranking")
    run_kinds.require(args.retrieval, "retrieval", "--retrieval")  # before TensorFlow loads
    run_kinds.require(args.ranking, "ranking", "--ranking")
    if args.data:
        preflight.data_folder(args.data)
    preflight.output(args.out)
    from serving.export import build as export

    options = export.ExportOptions(min_recall=args.min_recall, data_dir=args.data,
                                   held_out_queries=args.held_out_queries,
                                   serving_root=args.serving_root, verify=not args.no_verify,
                                   tolerance=getattr(args, "tolerance", 1e-5))
    try:
        result = export.export(args.retrieval, args.ranking, args.out, options, gate=_gate(args))
    except export.VerificationFailedError as error:  # nothing of the version is kept, nor its log
        for line in verify_summary(error.output)[1]:
            print(line)
        print(f"funnel export: {error}", file=sys.stderr)
        return 1
    scann, verified = result.manifest["scann"], result.manifest["verify"]
    recall_k = scann["recall_k"]
    measured = ", ".join(f"{name} {value:.4f}" for name, value in verified.get("recall", {}).items())
    passed, _ = verify_summary(result.verify_output)
    print(f"exported version {result.version} to {result.root} "
          f"(ScaNN recall@{recall_k} = {scann[f'recall_at_{recall_k}']:.4f}, bar {scann['min_recall']}; "
          + (f"verified in a fresh process, {passed} checks passed: {measured}; every check and "
             f"signature in {result.verify_log})" if verified["verified"] else "NOT verified)"))
    gate = result.manifest.get("gate")
    if gate is None:
        print("no --data: no gate evaluated; `funnel serve --order auto` answers in retrieval order "
              "(--order ranking serves the ranker's order)")
    else:
        print(f"gate on {gate['examples']} validation users ({gate['candidates']} candidates): NDCG@10 "
              f"ranking {gate['funnel']['ndcg@10']:.4f} vs retrieval {gate['retrieval']['ndcg@10']:.4f}, "
              f"HR@10 {gate['funnel']['hr@10']:.4f} vs {gate['retrieval']['hr@10']:.4f} -> the service "
              f"orders by {gate['order']}")
    return 0


def verify_export(args) -> int:
    """Verify in a fresh process; an export that cannot be read is a user error (exit 2)."""
    if not args.export_dir:
        raise ValueError("funnel export verify needs the EXPORT folder")
    contract.require_export(args.export_dir, flag="EXPORT")
    from serving.export.verify import verify_in_subprocess

    version = args.version or contract.complete_versions(args.export_dir)[-1]
    completed = verify_in_subprocess(args.export_dir, version, args.tolerance)
    lines = completed.stderr.strip().splitlines()
    if completed.returncode == VERIFY_USAGE_ERROR and lines:
        raise ValueError(lines[-1])
    log = write_verify_log(args.export_dir, version, completed.stdout)
    passed, failed = verify_summary(completed.stdout)
    for line in failed:
        print(line)
    if completed.returncode:
        tail = "\n".join(lines[-5:])
        print(f"funnel export verify: FAILED (exit {completed.returncode}, {len(failed)} failed checks, "
              f"{passed} passed; every check and signature in {log})"
              + (f"\n{tail}" if tail else ""), file=sys.stderr)
        return 1
    print(f"verified export {args.export_dir} version {version} in a fresh process: {passed} checks "
          f"passed (every check and signature in {log})")
    return 0


def run_export(args) -> int:
    """``funnel export [build] ...`` or ``funnel export verify EXPORT``."""
    if args.action == VERIFY:
        return verify_export(args)
    if args.export_dir:
        raise ValueError(f"unexpected argument {args.export_dir!r}; "
                         "did you mean `funnel export verify EXPORT`?")
    return build_export(args)


def register(groups) -> None:
    group = groups["export"]
    group.add_argument("action", nargs="?", choices=(BUILD, VERIFY), default=BUILD,
                       help="build (default) a new version, or verify one")
    group.add_argument("export_dir", nargs="?", metavar="EXPORT", help="the export folder, for verify")
    _add_build_arguments(group)
    _add_verify_arguments(group)
    group.set_defaults(handler=run_export)
