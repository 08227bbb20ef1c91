"""A stand-in for TF Serving's REST API, for the ``tfserving`` backend's tests.

No TF Serving binary can be installed here, so this small Starlette app loads
``EXPORT/<model>/<version>/`` SavedModels with ``tf.saved_model.load`` and
answers the same URLs and JSON shapes as TF Serving's REST API:

* ``GET /v1/models/{m}[/versions/{v}]`` -> ``{"model_version_status": [...]}``
* ``GET /v1/models/{m}[/versions/{v}]/metadata`` -> signature inputs and outputs
* ``POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict`` with ``instances``
  (row format, answered with ``predictions``) or ``inputs`` (columnar, answered
  with ``outputs``); a single output is answered unnamed, as TF Serving does.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tensorflow as tf
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_PATH = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<rest>/metadata|:predict)?$")


def _jsonable(array: np.ndarray):
    if array.dtype == object:
        return np.vectorize(lambda x: x.decode() if isinstance(x, bytes) else x, otypes=[object])(array).tolist()
    return array.tolist()


class StandIn:
    """Serves every model folder below ``export_dir`` (all numeric versions)."""

    def __init__(self, export_dir: str | Path, models: list[str], labels: dict | None = None,
                 versions: dict[str, list[str]] | None = None):
        """``versions`` pins what each model serves (like ``models.config``'s specific
        version policy); by default every numeric folder is served."""
        self.export_dir = Path(export_dir)
        self.models = models
        self.labels = labels or {}
        self.pinned = versions
        self.requests: list[tuple[str, dict]] = []
        self._loaded: dict[tuple[str, str], object] = {}
        for model in models:                 # like TF Serving: loaded before reported AVAILABLE
            for version in self.versions(model):
                self._servable(model, version, None)

    def versions(self, model: str) -> list[str]:
        if self.pinned is not None:
            return list(self.pinned.get(model, []))
        folder = self.export_dir / model
        return sorted((p.name for p in folder.iterdir() if p.name.isdigit()), key=int) if folder.exists() else []

    def _servable(self, model: str, version: str | None, label: str | None):
        if label is not None:
            version = self.labels.get(label)
        version = version or (self.versions(model) or [None])[-1]
        if version is None or version not in self.versions(model):
            return None, version
        key = (model, version)
        if key not in self._loaded:
            self._loaded[key] = tf.saved_model.load(str(self.export_dir / model / version))
        return self._loaded[key], version

    async def handle(self, request: Request):
        match = _PATH.match(request.url.path)
        if not match or match["model"] not in self.models:
            return JSONResponse({"error": f"Servable not found for request: {request.url.path}"}, 404)
        model, rest = match["model"], match["rest"]
        if request.method == "GET" and rest is None:
            versions = self.versions(model)
            if match["version"]:
                if match["version"] not in versions:
                    return JSONResponse({"error": f"Could not find version {match['version']} of model {model}"},
                                        404)
                versions = [match["version"]]
            return JSONResponse({"model_version_status": [
                {"version": v, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                for v in versions]})
        servable, version = await run_in_threadpool(self._servable, model, match["version"], match["label"])
        if servable is None:
            return JSONResponse({"error": f"Servable not found for request: {model} version {version}"}, 404)
        if request.method == "GET" and rest == "/metadata":
            return JSONResponse({"model_spec": {"name": model, "version": version},
                                 "metadata": {"signature_def": {name: _signature_def(signature)
                                                                for name, signature in servable.signatures.items()}}})
        if request.method != "POST" or rest != ":predict":
            return JSONResponse({"error": "Malformed request"}, 400)
        body = await request.json()
        self.requests.append((model, body))
        name = body.get("signature_name", "serving_default")
        if name not in servable.signatures:
            return JSONResponse({"error": f"Serving signature name: \"{name}\" not found in signature def"}, 400)
        try:
            return JSONResponse(await run_in_threadpool(self._predict, servable.signatures[name], body))
        except (ValueError, TypeError, KeyError, tf.errors.OpError) as error:
            return JSONResponse({"error": str(error)}, 400)

    @staticmethod
    def _predict(signature, body: dict) -> dict:
        specs = signature.structured_input_signature[1]
        if "instances" in body:
            rows = body["instances"]
            if len(specs) == 1 and not isinstance(rows[0], dict):
                columns = {next(iter(specs)): rows}
            else:
                columns = {name: [row[name] for row in rows] for name in specs}
        elif "inputs" in body:
            given = body["inputs"]
            columns = given if isinstance(given, dict) else {next(iter(specs)): given}
        else:
            raise ValueError("Missing 'inputs' or 'instances' key")
        unknown = set(columns) - set(specs)
        if unknown:
            raise ValueError(f"unknown inputs {sorted(unknown)}; signature takes {sorted(specs)}")
        tensors = {name: tf.constant(columns[name], dtype=spec.dtype) for name, spec in specs.items()
                   if name in columns}
        outputs = {name: value.numpy() for name, value in signature(**tensors).items()}
        if "instances" in body:
            count = len(next(iter(outputs.values())))
            if len(outputs) == 1:
                return {"predictions": _jsonable(next(iter(outputs.values())))}
            return {"predictions": [{name: _jsonable(np.asarray(value[i])) if np.ndim(value[i]) else
                                     (value[i].decode() if isinstance(value[i], bytes) else value[i].item())
                                     for name, value in outputs.items()} for i in range(count)]}
        if len(outputs) == 1:
            return {"outputs": _jsonable(next(iter(outputs.values())))}
        return {"outputs": {name: _jsonable(value) for name, value in outputs.items()}}


def _signature_def(signature) -> dict:
    return {"inputs": {k: {"dtype": v.dtype.name, "shape": v.shape.as_list()}
                       for k, v in signature.structured_input_signature[1].items()},
            "outputs": {k: {"dtype": v.dtype.name, "shape": v.shape.as_list()}
                        for k, v in signature.structured_outputs.items()}}


def make_app(standin: StandIn) -> Starlette:
    return Starlette(routes=[Route("/{path:path}", standin.handle, methods=["GET", "POST"])])
