"""Where the query and ranking models run: a registry of backends.

``embedded`` runs the export's SavedModels and ScaNN index in-process;
``tfserving`` calls the query and ranking models on a TF Serving REST endpoint
and keeps the native ScaNN index and feature tables in-process. Both turn an
export version into a :class:`serving.bundle.ModelBundle`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Protocol

from funnel import config as funnel_config

if TYPE_CHECKING:  # the CLI reads BACKENDS while building its parser, without NumPy
    from serving.bundle import ModelBundle


class Backend(Protocol):
    """Loads export versions for the service."""

    name: str

    def configure(self) -> None:
        """One-time process setup (TensorFlow threads) before the first load."""

    def latest_version(self) -> Optional[int]:
        """The newest complete version in the export, or None."""

    def load(self, version: int) -> ModelBundle:
        """Load one version; raises if it is broken or inconsistent."""


def _embedded(settings):
    from serving.backends.embedded import EmbeddedBackend
    return EmbeddedBackend(settings)


def _tfserving(settings):
    from serving.backends.tfserving import TFServingBackend
    return TFServingBackend(settings)


BACKENDS = {"embedded": _embedded, "tfserving": _tfserving}


def make_backend(settings) -> Backend:
    return funnel_config.choice("backend", settings.backend, BACKENDS)(settings)
