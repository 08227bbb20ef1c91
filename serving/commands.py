"""``funnel serve``: the REST recommend service over an export folder."""

from __future__ import annotations

import argparse

from funnel import flags
from serving import backends
from serving import contract


def register(groups) -> None:
    parser: argparse.ArgumentParser = groups["serve"]
    parser.add_argument("--export", required=True, metavar="EXPORT",
                        help="folder written by `funnel export` (newest version is served; "
                             "new versions are picked up while running)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=flags.integer(0, 65535), default=8000,
                        help="port to listen on (0: a free port, named in uvicorn's 'running on' line)")
    parser.add_argument("--workers", type=flags.positive_int, default=1,
                        help="uvicorn worker processes, each loading its own copy of the models (default: "
                             "1; on 2 cores two workers measured slower than one micro-batching worker, "
                             "see the serving benchmarks)")
    parser.add_argument("--backend", choices=sorted(backends.BACKENDS), default="embedded",
                        help="where the query and ranking models run")
    parser.add_argument("--tfserving-url", default=None,
                        help="TF Serving REST base URL, e.g. http://localhost:8501 (backend tfserving; "
                             "default: none)")
    parser.add_argument("--admin-token", default=None,
                        help="enables POST /admin/reload, which then requires 'Authorization: Bearer "
                             "TOKEN' (default: none, the route is off)")
    parser.add_argument("--max-batch", type=flags.positive_int, default=32,
                        help="most concurrent requests merged into one model call (1: no micro-batching)")
    parser.add_argument("--reload-interval", type=flags.non_negative_float, default=5.0,
                        help="seconds between checks for a new export version (0: only /admin/reload)")
    parser.add_argument("--tf-threads", type=flags.positive_int, default=1,
                        help="TensorFlow intra-op threads per worker (default: 1, fastest at small batches)")
    parser.add_argument("--tf-inter-threads", type=flags.integer(0), default=2,
                        help="threads of each model's TensorFlow op pool (default: 2; 0: no pool, each batch "
                        "thread runs its own model calls)")
    parser.add_argument("--batch-threads", type=flags.positive_int, default=2,
                        help="threads running micro-batches at once (default: 2, one per core)")
    parser.add_argument("--order", choices=ORDER_CHOICES, default="auto",
                        help="order of the answers: auto (ranking only where the export's gate found it "
                        "beats retrieval order on validation users; retrieval order for an export without "
                        "a gate, made without --data), ranking, or retrieval (default: auto)")
    parser.set_defaults(handler=_serve)


ORDER_CHOICES = ("auto", "ranking", "retrieval")
"""``ServiceSettings.order`` values (kept here: building the parser imports no service code)."""


def _serve(args) -> int:
    from serving.settings import ServiceSettings

    settings = ServiceSettings(
        export_dir=args.export, backend=args.backend, tfserving_url=args.tfserving_url,
        admin_token=args.admin_token, host=args.host, port=args.port, workers=args.workers,
        max_batch=args.max_batch, reload_interval_s=args.reload_interval,
        tf_intra_op_threads=args.tf_threads,
        tf_inter_op_threads=args.tf_inter_threads, batch_threads=args.batch_threads, order=args.order)
    contract.require_export(args.export)
    from serving import server  # after the settings are checked: bad flags fail at once

    backend = backends.make_backend(settings)
    preflight = getattr(backend, "preflight", None)
    if preflight is not None:
        preflight()  # fails with one clear line (e.g. schema fingerprints disagree) before uvicorn starts
    where = f"http://{args.host}:{args.port}/" if args.port else f"a free port of {args.host}"
    print(f"funnel serve: export {args.export} ({args.backend}) on {where} "
          f"(demo page at /, API docs at /docs)")
    server.run(settings)
    return 0
