"""CLI of the export stage: ``funnel export ...`` and ``funnel evaluate funnel``.

``funnel export --retrieval RUN --ranking RUN --out EXPORT`` (also spelt
``funnel export build ...``) writes the next export version;
``funnel export verify EXPORT`` checks it in a fresh process. When the CLI
makes ``export`` a leaf group the first form works as is; with a subcommand
group the ``build`` and ``verify`` words are required.
"""

from __future__ import annotations

import argparse
import json
import sys

BUILD, VERIFY = "build", "verify"


def _add_build_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--retrieval", required=required, metavar="RUN",
                        help="run folder of `funnel train retrieval`")
    parser.add_argument("--ranking", required=required, metavar="RUN",
                        help="run folder of `funnel train ranking`")
    parser.add_argument("--out", required=required, metavar="EXPORT",
                        help="export folder (a new version is added)")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="pipeline output whose test split gives the held-out ScaNN queries")
    parser.add_argument("--min-recall", type=float, default=0.95,
                        help="ScaNN recall@100 bar vs brute force (lowering it is recorded)")
    parser.add_argument("--held-out-queries", type=int, default=500)
    parser.add_argument("--serving-root", default="/models",
                        help="where TF Serving sees EXPORT (paths in models.config)")
    parser.add_argument("--no-verify", action="store_true",
                        help="publish without verifying in a fresh process first (recorded in the manifest)")


def _add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", type=int, default=None, help="default: newest complete")
    parser.add_argument("--tolerance", type=float, default=1e-5)


def build_export(args) -> int:
    from serving import export

    missing = [flag for flag, value in (("--retrieval", args.retrieval), ("--ranking", args.ranking),
                                        ("--out", args.out)) if not value]
    if missing:
        raise ValueError(f"funnel export needs {', '.join(missing)}")
    options = export.ExportOptions(min_recall=args.min_recall, data_dir=args.data,
                                   held_out_queries=args.held_out_queries,
                                   serving_root=args.serving_root, verify=not args.no_verify,
                                   tolerance=getattr(args, "tolerance", 1e-5))
    try:
        result = export.export(args.retrieval, args.ranking, args.out, options)
    except export.VerificationFailedError as error:
        sys.stdout.write(error.output)
        print(f"funnel export: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(result.verify_output)
    scann, verified = result.manifest["scann"], result.manifest["verify"]
    recall_k = scann["recall_k"]
    measured = ", ".join(f"{name} {value:.4f}" for name, value in verified.get("recall", {}).items())
    print(f"exported version {result.version} to {result.root} "
          f"(ScaNN recall@{recall_k} = {scann[f'recall_at_{recall_k}']:.4f}, bar {scann['min_recall']}; "
          + (f"verified in a fresh process: {measured})" if verified["verified"] else "NOT verified)"))
    return 0


def verify_export(args) -> int:
    from serving.verify import verify_in_subprocess

    if not args.export_dir:
        raise ValueError("funnel export verify needs the EXPORT folder")
    completed = verify_in_subprocess(args.export_dir, args.version, args.tolerance)
    sys.stdout.write(completed.stdout)
    if completed.returncode:
        tail = "\n".join(completed.stderr.strip().splitlines()[-5:])
        print(f"funnel export verify: FAILED (exit {completed.returncode})"
              + (f"\n{tail}" if tail else ""), file=sys.stderr)
        return 1
    return 0


def run_export(args) -> int:
    """Leaf-group entry: ``funnel export [build] ...`` or ``funnel export verify EXPORT``."""
    if args.action == VERIFY:
        return verify_export(args)
    if args.export_dir:
        raise ValueError(f"unexpected argument {args.export_dir!r}; "
                         "did you mean `funnel export verify EXPORT`?")
    return build_export(args)


def evaluate_funnel(args) -> int:
    from serving.evaluate import evaluate_funnel as evaluate

    result = evaluate(args.export, args.data, candidates=args.candidates, version=args.version)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"export version {result['export_version']}, {result['examples']} test examples, "
          f"full catalog, {result['candidates']} candidates ranked")
    for name in ("retrieval_bruteforce", "retrieval_scann", "funnel"):
        metrics = result[name]
        print(f"  {name:22s} " + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return 0


def register(groups) -> None:
    group = groups["export"]
    if isinstance(group, argparse._SubParsersAction):
        build = group.add_parser(BUILD, help="export a retrieval run and a ranking run")
        _add_build_arguments(build, required=True)
        _add_verify_arguments(build)
        build.set_defaults(handler=build_export)
        verify = group.add_parser(VERIFY, help="check an export in a fresh process")
        verify.add_argument("export_dir", metavar="EXPORT")
        _add_verify_arguments(verify)
        verify.set_defaults(handler=verify_export)
    else:
        group.add_argument("action", nargs="?", choices=(BUILD, VERIFY), default=BUILD,
                           help="build (default) a new version, or verify one")
        group.add_argument("export_dir", nargs="?", metavar="EXPORT", help="for verify")
        _add_build_arguments(group, required=False)
        _add_verify_arguments(group)
        group.set_defaults(handler=run_export)

    evaluate = groups["evaluate"].add_parser(
        "funnel", help="measure retrieval (ScaNN, brute force) and retrieve-then-rank on the test split")
    evaluate.add_argument("--export", required=True, metavar="EXPORT")
    evaluate.add_argument("--data", required=True, metavar="DIR", help="pipeline output folder")
    evaluate.add_argument("--candidates", type=int, default=100,
                          help="retrieved candidates the ranking model re-orders")
    evaluate.add_argument("--version", type=int, default=None)
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=evaluate_funnel)
