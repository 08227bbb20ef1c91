"""The ``tfserving`` backend: query and ranking models on TF Serving (REST).

The ScaNN index and the feature tables still load from the export folder
(stock TF Serving has no ScaNN ops, and retrieval needs the embeddings), so
the service and TF Serving must see the same export. Every call names the
version explicitly (``/v1/models/query/versions/<v>:predict``): the query
model must match the ScaNN index's embedding space. A version appears in the
export before TF Serving (polling ``models.config``) has loaded it, so
``load`` waits for TF Serving to report it AVAILABLE before the swap.
"""

from __future__ import annotations

import logging
import time

import httpx
import numpy as np

from funnel import schema
from serving import artifacts
from serving import contract
from serving.backends.rest import PredictClient, TFServingError
from serving.bundle import ModelBundle, RankScores
from serving.ranking_rows import expand_candidates

log = logging.getLogger(__name__)

WAIT_FOR_VERSION_S = 120.0
POLL_S = 0.5


class TFServingBackend:
    name = "tfserving"

    def __init__(self, settings, wait_for_version_s: float = WAIT_FOR_VERSION_S):
        self.settings = settings
        self.export_dir = settings.export_dir
        self.url = settings.tfserving_url.rstrip("/")
        self.wait_for_version_s = wait_for_version_s

    def configure(self) -> None:
        """Nothing to tune in-process: TF Serving owns the TensorFlow threads."""

    def preflight(self) -> None:
        artifacts.check_fingerprints(self.export_dir, contract.resolve_version(self.export_dir))

    def latest_version(self) -> int | None:
        return artifacts.latest_version(self.export_dir)

    def _wait_available(self, client: PredictClient) -> None:
        deadline = time.monotonic() + self.wait_for_version_s
        last = "no answer"
        while True:
            try:
                if client.version in client.available_versions():
                    return
                last = "not AVAILABLE yet"
            except (TFServingError, httpx.HTTPError) as error:
                last = str(error)
            if time.monotonic() > deadline:
                raise TFServingError(f"{client.model} version {client.version} not available on "
                                     f"{self.url} after {self.wait_for_version_s:.0f} s ({last}); "
                                     "is models.config up to date?")
            time.sleep(POLL_S)

    def load(self, version: int) -> ModelBundle:
        root, version, manifest = artifacts.open_version(self.export_dir, version)
        http = httpx.Client(timeout=self.settings.tfserving_timeout_s,
                            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))
        query_client = PredictClient(self.url, contract.QUERY, version=str(version), client=http)
        candidates = contract.CANDIDATES in manifest["models"][contract.RANKING].get("signatures", ())
        rank_client = PredictClient(self.url, contract.RANKING, version=str(version), client=http,
                                    signature=contract.CANDIDATES if candidates else contract.SERVING_DEFAULT)

        def query(history: np.ndarray) -> np.ndarray:
            out = query_client.predict({schema.HISTORY: history}, output=contract.EMBEDDINGS)
            return out[contract.EMBEDDINGS].astype(np.float32)

        def rank(features, owner) -> RankScores:
            inputs = ({**features, contract.OWNER: np.asarray(owner, np.int64)} if candidates
                      else expand_candidates(features, owner))
            out = rank_client.predict(inputs, output=contract.PROBABILITY)  # unnamed: an export without logit
            logit = out.get(contract.LOGIT)
            return RankScores(out[contract.PROBABILITY].astype(np.float32).reshape(-1),
                              None if logit is None else logit.astype(np.float32).reshape(-1))

        try:
            bundle = artifacts.load_bundle(root, version, manifest, query=query, rank=rank, close=http.close,
                                           order=self.settings.order)
            for client in (query_client, rank_client):
                self._wait_available(client)
        except Exception:
            http.close()
            raise
        return bundle
