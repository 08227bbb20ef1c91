"""Hot reload: serve the newest export version without dropping a request.

A watcher thread polls the export folder (``probe`` names its newest version).
A new version is loaded and warmed on that thread while the old one keeps
answering; then one attribute assignment swaps it in. Each model batch reads
``current`` once, so batches in flight finish on the version they started
with. A version that fails to load or warm is refused: logged, listed in
``/v1/models``, never retried by the watcher, and the old version keeps serving.
The manager is generic over ``probe`` and ``load`` so it is tested without
TensorFlow.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import time
from typing import Callable, Optional, Protocol

log = logging.getLogger(__name__)

RETIRE_AFTER_S = 30.0
"""An old version is closed this long after it was swapped out (its last batches are done by then)."""


def freeze_heap() -> None:
    """Collect once, then hide every live object from the cyclic collector (``gc.freeze``).

    A loaded version is hundreds of thousands of long-lived Python objects
    (TensorFlow's graph wrappers, item and user tables). Left in the oldest
    generation, each full collection walks all of them while holding the GIL,
    a stall every few seconds that sets the p99 under load (docs/benchmarks.md,
    "Serving"). Frozen objects are still freed by
    reference counting; ``gc.unfreeze`` before a retired version's last
    collection lets its cycles go too. The price is one full collection per
    version loaded or retired, instead of one every few seconds.
    """
    gc.collect()
    gc.freeze()


def collect_retired() -> None:
    """Let a retired version's reference cycles be collected, then freeze what is left."""
    gc.unfreeze()
    freeze_heap()


class Servable(Protocol):
    def warm(self) -> float: ...


@dataclasses.dataclass(frozen=True)
class Served:
    """The active version: what ``current`` returns. What was loaded (the bundle,
    its manifest) lives in ``engine``; this records when and how fast."""

    version: int
    engine: Servable
    loaded_at: float
    warm_ms: float


@dataclasses.dataclass(frozen=True)
class Refused:
    version: int
    error: str
    at: float


class ReloadManager:
    """Owns the active version and the watcher.

    Args:
        probe: returns the newest version in the export (None if none).
        load: version -> an engine with ``warm()``.
        interval_s: polling period of the watcher (0: no watcher).
        on_change: called with each outcome ("loaded" or "refused") and the version.
        retire: called with an engine some time after it was swapped out.
    """

    def __init__(self, probe: Callable[[], Optional[int]], load: Callable[[int], Servable],
                 interval_s: float = 5.0, on_change: Callable[[str, int], None] | None = None,
                 retire: Callable[[Servable], None] | None = None):
        self._probe = probe
        self._load = load
        self._interval = interval_s
        self._on_change = on_change or (lambda outcome, version: None)
        self._retire = retire
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: Served | None = None
        self._refused: dict[int, Refused] = {}
        self.reloading = False

    # -------------------------------------------------------------- state
    @property
    def current(self) -> Served | None:
        return self._current

    @property
    def refused(self) -> list[Refused]:
        return sorted(self._refused.values(), key=lambda r: r.at)

    @property
    def ready(self) -> bool:
        return self._current is not None

    # ----------------------------------------------------------- actions
    def load_initial(self) -> Served:
        """Load and warm the newest version, raising if there is none or it fails."""
        version = self._probe()
        if version is None:
            raise FileNotFoundError("no model version found in the export")
        with self._lock:
            self._swap_in(version, raise_errors=True)
        return self._current

    def check(self, retry_refused: bool = False) -> str:
        """Load the newest version if it is new. Returns what happened:
        ``unchanged``, ``loaded`` or ``refused``."""
        with self._lock:
            try:
                version = self._probe()
            except Exception as error:  # noqa: BLE001  (a half-visible folder must not stop the watcher)
                log.warning("could not list export versions: %s", error)
                return "unchanged"
            if version is None or (self._current is not None and version == self._current.version):
                return "unchanged"
            if version in self._refused and not retry_refused:
                return "unchanged"
            return self._swap_in(version, raise_errors=False)

    def start(self) -> None:
        if self._interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="reload-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    # ----------------------------------------------------------- internals
    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            self.check()

    def _swap_in(self, version: int, raise_errors: bool) -> str:
        self.reloading = True
        started = time.perf_counter()
        try:
            engine = self._load(version)
            warm_ms = engine.warm()
        except Exception as error:  # noqa: BLE001  (any load failure refuses the version)
            self._refused[version] = Refused(version, f"{type(error).__name__}: {error}", time.time())
            log.error("refused export version %s: %s", version, error)
            self._on_change("refused", version)
            if raise_errors:
                raise
            return "refused"
        finally:
            self.reloading = False
        old = self._current
        self._current = Served(version, engine, time.time(), warm_ms)
        self._refused.pop(version, None)
        log.info("serving export version %s (loaded and warmed in %.0f ms)", version,
                 (time.perf_counter() - started) * 1000)
        freeze_heap()
        self._on_change("loaded", version)
        if old is not None:
            timer = threading.Timer(RETIRE_AFTER_S, self._retire_old, args=([old.engine],))
            timer.daemon = True
            timer.start()
        return "loaded"

    def _retire_old(self, retiring: list) -> None:
        """Close the swapped-out engine (held only by ``retiring``) and collect it."""
        engine = retiring.pop()
        if self._retire is not None:
            self._retire(engine)
        del engine
        collect_retired()
