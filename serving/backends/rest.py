"""A client for TF Serving's REST predict API (columnar ``inputs`` format).

``POST {url}/v1/models/{model}[/versions/{v}]:predict`` with
``{"signature_name": ..., "inputs": {name: nested lists}}`` answers
``{"outputs": {name: nested lists}}``, or ``{"outputs": nested lists}`` when the
signature has a single output (TF Serving drops the name then). String tensors
travel as JSON strings. See https://www.tensorflow.org/tfx/serving/api_rest.
"""

from __future__ import annotations

import logging
from typing import Mapping, Optional

import httpx
import numpy as np

log = logging.getLogger(__name__)


class TFServingError(RuntimeError):
    """TF Serving refused or failed a call; the message names the model and the reason."""


def _to_json(value: np.ndarray):
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in "SU":
        return np.vectorize(lambda x: x.decode() if isinstance(x, bytes) else str(x), otypes=[object])(array).tolist()
    return array.tolist()


class PredictClient:
    """One model's ``:predict`` endpoint over a pooled keep-alive HTTP connection."""

    def __init__(self, base_url: str, model: str, version: Optional[str] = None,
                 signature: str = "serving_default", timeout_s: float = 5.0,
                 client: httpx.Client | None = None):
        self.model = model
        self.version = version
        self.signature = signature
        path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "")
        self._status_url = base_url.rstrip("/") + path
        self._predict_url = self._status_url + ":predict"
        self._client = client or httpx.Client(timeout=timeout_s)
        self._owns_client = client is None

    def predict(self, inputs: Mapping[str, np.ndarray], output: Optional[str] = None) -> dict[str, np.ndarray]:
        """Call the signature; returns every output as a numpy array (``output`` names a
        single-output signature's tensor, which TF Serving answers unnamed)."""
        body = {"signature_name": self.signature, "inputs": {k: _to_json(v) for k, v in inputs.items()}}
        try:
            response = self._client.post(self._predict_url, json=body)
        except httpx.HTTPError as error:
            raise TFServingError(f"{self.model}: TF Serving unreachable at {self._predict_url}: {error}") from error
        if response.status_code != 200:
            raise TFServingError(f"{self.model}: TF Serving answered {response.status_code}: {response.text[:300]}")
        outputs = response.json().get("outputs")
        if outputs is None:
            raise TFServingError(f"{self.model}: TF Serving answer has no 'outputs'")
        if not isinstance(outputs, dict):
            outputs = {output or "output": outputs}
        return {name: np.asarray(value) for name, value in outputs.items()}

    def status(self) -> dict:
        """``GET /v1/models/{model}[/versions/{v}]``: the model's version states."""
        response = self._client.get(self._status_url)
        if response.status_code != 200:
            raise TFServingError(f"{self.model}: status {response.status_code}: {response.text[:300]}")
        return response.json()

    def available_versions(self) -> list[str]:
        states = self.status().get("model_version_status", [])
        return [str(s["version"]) for s in states if s.get("state") == "AVAILABLE"]

    def close(self) -> None:
        if self._owns_client:
            self._client.close()
