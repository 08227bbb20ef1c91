"""The parameters of ``funnel generate`` (IDW paper, Appendix A), without the generator.

The CLI builds its ``generate`` flags from these fields while it builds the
parser, so this module imports neither NumPy nor pyarrow (``funnel --help``
answers at once); :mod:`pipelines.synthetic` does the drawing.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """Parameters of Appendix A (Table 3) plus the impression log and clock.

    Attributes:
      users: ``|U|``, number of users.
      items: ``|I|``, number of items.
      clusters: ``C``, number of interest clusters.
      length: ``T``, clicks per user.
      interest_skew: power-law exponent ``a`` of ``pi_c ∝ c^-a``, in [0, 2].
      item_skew: power-law exponent ``b`` of ``p_k ∝ k^-b`` within a cluster.
      alpha: probability of staying in the current interesting cluster.
      gamma: volatility, total probability of moving to another cluster of ``Y_u``.
      epsilon: probability of staying in a non-interesting cluster.
      interests_per_user: draws of ``Y_u`` (with replacement), so ``|Y_u| <=`` this.
      impressions_per_request: items shown per request (one of them clicked).
      start_time: unix seconds of the earliest possible click.
      start_spread_seconds: users' first clicks are spread uniformly over this.
      mean_gap_seconds: mean time between a user's consecutive clicks.
      seed: seed of the single random generator.
    """

    users: int = 1000
    items: int = 500
    clusters: int = 10
    length: int = 40
    interest_skew: float = 1.0
    item_skew: float = 0.5
    alpha: float = 0.6
    gamma: float = 0.3
    epsilon: float = 0.1
    interests_per_user: int = 3
    impressions_per_request: int = 5
    start_time: int = 1_704_067_200  # 2024-01-01T00:00:00Z
    start_spread_seconds: int = 30 * 86_400
    mean_gap_seconds: float = 4 * 3_600.0
    seed: int = 0

    def __post_init__(self):
        _check(self.users >= 1, "users", self.users, "at least 1")
        _check(self.clusters >= 1, "clusters", self.clusters, "at least 1")
        _check(self.items >= self.clusters, "items", self.items,
               f"at least --clusters ({self.clusters}) so every cluster has an item")
        _check(self.length >= 1, "length", self.length, "at least 1")
        _check(0.0 <= self.interest_skew <= 2.0, "interest_skew", self.interest_skew,
               "in [0, 2] (IDW Appendix A)")
        _check(self.item_skew >= 0.0, "item_skew", self.item_skew, ">= 0")
        for name in ("alpha", "gamma", "epsilon"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, name, value, "a probability in [0, 1]")
        _check(self.alpha + self.gamma <= 1.0 + 1e-12, "gamma", self.gamma,
               f"at most 1 - alpha = {1.0 - self.alpha:g} (eq. 12 rows must sum to 1)")
        _check(1 <= self.interests_per_user <= self.clusters, "interests_per_user",
               self.interests_per_user, f"in [1, --clusters = {self.clusters}]")
        _check(1 <= self.impressions_per_request <= self.items, "impressions_per_request",
               self.impressions_per_request, f"in [1, --items = {self.items}]")
        _check(self.start_time >= 0, "start_time", self.start_time, ">= 0 (unix seconds)")
        _check(self.start_spread_seconds >= 0, "start_spread_seconds",
               self.start_spread_seconds, ">= 0")
        _check(self.mean_gap_seconds >= 0, "mean_gap_seconds", self.mean_gap_seconds, ">= 0")

    @property
    def num_events(self) -> int:
        return self.users * self.length


def _check(ok: bool, field: str, value, expected: str) -> None:
    if not ok:
        flag = "--" + field.replace("_", "-")
        raise ValueError(f"{field} ({flag}): got {value!r}, expected {expected}")


FLAG_HELP = {
    "users": "number of users |U|",
    "items": "number of items |I| (split evenly over clusters; the first |I| mod C get one more)",
    "clusters": "number of interest clusters C",
    "length": "clicks per user T",
    "interest_skew": "power-law exponent a of the cluster weights pi_c ∝ c^-a, in [0, 2]",
    "item_skew": "power-law exponent of the item weights within a cluster",
    "alpha": "eq. 12: probability of staying in an interesting cluster",
    "gamma": "eq. 12: probability of switching to another interesting cluster",
    "epsilon": "eq. 12: probability of staying in a non-interesting cluster",
    "interests_per_user": "interest draws per user, with replacement (|Y_u| <= this)",
    "impressions_per_request": "items shown per request, the clicked one included",
    "start_time": "unix seconds of the earliest click",
    "start_spread_seconds": "users' first clicks spread uniformly over this many seconds",
    "mean_gap_seconds": "mean seconds between a user's consecutive clicks",
    "seed": "random seed (same seed, same bytes)",
}
"""Help of each field's ``funnel generate`` flag."""
