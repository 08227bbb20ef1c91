"""Retrieval examples: per-user sequences, leave-one-out splits, sampled negatives.

Default rule (per user, interactions ordered by time, ties by file and line):
the last interaction is the test target, the second-last the validation target,
each with the most recent ``max_len`` earlier items as history. The remaining
``m`` interactions form the training sequence; it is cut into pieces of
``max_len + 1`` items that overlap by one (pieces start at positions 0,
``max_len``, ``2 max_len``, ...), and every piece yields the examples (prefix,
next item). So every training interaction but the first is a target once, with
a history of at most ``max_len`` items that never reaches across a cut: the
"histories longer than max-len are split into several sequences" rule of the
IDW paper (§4.1) without losing targets. A user with fewer than
``schema.MIN_INTERACTIONS_FOR_TEST`` interactions has no validation or test
example; all their interactions train (and they are counted as too short).

``split="per-sequence"`` (``split_per_sequence``) reproduces the paper's text:
the whole history is cut into consecutive sequences of ``max_len`` items and
leave-one-out is applied to each sequence of at least 3 items (shorter ones
only train), which lets a user's later interactions train a model tested on
earlier ones.

``split="windows"`` is the authors' public preprocessing (google-research,
``multiple_user_representations/colabs/Preprocessing_MovieLens.ipynb``, read,
not copied): users with at least ``WINDOW_MIN_INTERACTIONS`` interactions;
windows of ``max_len`` items starting at 0, ``stride``, ``2 stride``, ... while
they end before the last interaction, plus the window of the last ``max_len``
items; each window yields one training example, its third-from-last item
with the window's earlier items as history. The last interaction is the test
target and the second-last the validation target, as in the default rule.
Item training counts are the training targets' counts.

Evaluation negatives are ``eval_negatives`` items the user never interacted
with, drawn without replacement either uniformly (``"uniform"``) or with
probability proportional to the item's interaction count (``"popularity"``,
the authors' notebook), which makes popular items harder competitors.

Everything is vectorised over a bucket of users; only negative sampling loops
over users, each with its own generator derived from ``(seed, user id)`` so the
result depends on neither the runner nor the bucketing.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd

from funnel import schema
from pipelines import rows as R
from pipelines.vocab import Vocabularies


WINDOW_MIN_INTERACTIONS = 5
"""``split="windows"``: users with fewer interactions are left out (the authors' threshold)."""
WINDOW_TARGET_FROM_END = 3
"""``split="windows"``: a window's training target is its third-from-last item."""
SPLITS = ("user", "per-sequence", "windows")
NEGATIVE_SAMPLINGS = ("uniform", "popularity")


@dataclasses.dataclass(frozen=True)
class SequenceOptions:
    """How interactions become retrieval examples (``funnel preprocess`` flags).

    ``split``: one of ``SPLITS`` (``split_per_sequence=True`` is ``"per-sequence"``);
    ``window_stride``: stride of ``split="windows"``; ``negatives_sampling``: one of
    ``NEGATIVE_SAMPLINGS``.
    """

    max_len: int = schema.MAX_SEQUENCE_LENGTH
    eval_negatives: int = schema.EVAL_NEGATIVES
    seed: int = 0
    split_per_sequence: bool = False
    split: str = "user"
    window_stride: int = 5
    negatives_sampling: str = "uniform"

    def __post_init__(self):
        if self.max_len < 1:
            raise ValueError(f"--max-len must be >= 1, got {self.max_len}")
        if self.eval_negatives < 0:
            raise ValueError(f"--eval-negatives must be >= 0, got {self.eval_negatives}")
        if self.split not in SPLITS:
            raise ValueError(f"--split: unknown value {self.split!r}; choose one of {list(SPLITS)}")
        if self.split_per_sequence and self.split not in ("user", "per-sequence"):
            raise ValueError(f"--split-per-sequence contradicts --split {self.split}")
        if self.split_per_sequence or self.split == "per-sequence":
            object.__setattr__(self, "split", "per-sequence")
            object.__setattr__(self, "split_per_sequence", True)
        if self.window_stride < 1:
            raise ValueError(f"--window-stride must be >= 1, got {self.window_stride}")
        if self.split == "windows" and self.max_len < WINDOW_TARGET_FROM_END:
            raise ValueError(f"--max-len must be >= {WINDOW_TARGET_FROM_END} with --split windows, "
                             f"got {self.max_len}")
        if self.negatives_sampling not in NEGATIVE_SAMPLINGS:
            raise ValueError(f"--eval-negatives-sampling: unknown value {self.negatives_sampling!r}; "
                             f"choose one of {list(NEGATIVE_SAMPLINGS)}")


@dataclasses.dataclass
class RetrievalOutput:
    """Examples of one bucket: split -> feature -> array, plus bookkeeping.

    ``examples[split][HISTORY]`` is ``[E, max_len]`` (left-padded, most recent
    last), ``NEGATIVES`` ``[E, eval_negatives]`` (validation/test only), the
    rest ``[E]``. ``train_item_counts`` is ``[vocab size]``: kept interactions
    of each item id in the training split.
    """

    examples: dict[str, dict[str, np.ndarray]]
    train_item_counts: np.ndarray
    users: int
    users_too_short: int


def user_rng(seed: int, user: str) -> np.random.Generator:
    """A generator owned by one user: same draws whatever runner or bucket."""
    digest = hashlib.blake2b(user.encode("utf-8"), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "little")])


def sample_negatives(rng: np.random.Generator, num_ids: int, seen: np.ndarray, count: int,
                     user: str = "", popularity: np.ndarray | None = None) -> np.ndarray:
    """``count`` distinct item ids in ``[FIRST_VALUE_ID, num_ids)`` not in ``seen``.

    Uniform (``popularity`` None): rejection sampling while unseen items are
    plentiful; when fewer than 4x ``count`` remain, a draw without replacement
    from the explicit remainder. With ``popularity`` (``[num_ids]`` counts):
    a draw without replacement from the unseen items with probability
    proportional to their count (the authors' ``np.random.choice(..., p=...,
    replace=False)``).
    """
    seen = np.unique(seen[seen >= schema.FIRST_VALUE_ID])
    available = num_ids - schema.FIRST_VALUE_ID - len(seen)
    if available < count:
        raise ValueError(f"user {user!r}: only {available} items the user never interacted with, "
                         f"--eval-negatives asks for {count}")
    if popularity is not None:
        pool = np.setdiff1d(np.arange(schema.FIRST_VALUE_ID, num_ids), seen)
        mass = np.asarray(popularity, dtype=np.float64)[pool]
        if np.count_nonzero(mass) < count:
            raise ValueError(f"user {user!r}: only {np.count_nonzero(mass)} unseen items with a "
                             f"count, --eval-negatives asks for {count}")
        return rng.choice(pool, size=count, replace=False, p=mass / mass.sum()).astype(np.int64)
    if available < 4 * count:
        pool = np.setdiff1d(np.arange(schema.FIRST_VALUE_ID, num_ids), seen)
        return rng.choice(pool, size=count, replace=False).astype(np.int64)
    chosen = np.zeros(0, dtype=np.int64)
    while len(chosen) < count:
        draw = rng.integers(schema.FIRST_VALUE_ID, num_ids, size=2 * count + 8)
        draw = draw[~np.isin(draw, seen) & ~np.isin(draw, chosen)]
        _, first = np.unique(draw, return_index=True)
        chosen = np.concatenate([chosen, draw[np.sort(first)]])[:count]
    return chosen


def history_matrix(items: np.ndarray, start: np.ndarray, end: np.ndarray, max_len: int) -> np.ndarray:
    """``[E, max_len]`` histories ``items[start:end]``, left-padded with ``PADDING_ID``."""
    if len(end) == 0:
        return np.zeros((0, max_len), dtype=np.int64)
    positions = end[:, None] - max_len + np.arange(max_len)[None, :]
    valid = positions >= start[:, None]
    return np.where(valid, items[np.clip(positions, 0, None)], schema.PADDING_ID).astype(np.int64)


def sort_interactions(rows: pd.DataFrame) -> pd.DataFrame:
    """Retrieval interactions of ``rows``, by user, time, file and line."""
    interactions = rows[rows[R.IN_RETRIEVAL].to_numpy()]
    return interactions.sort_values([schema.USER_ID, schema.TIMESTAMP, R.SOURCE, R.LINE],
                                     kind="stable", ignore_index=True)


_TRAIN, _VALIDATION, _TEST, _DROPPED = 0, 1, 2, 3


def _user_roles(position, user_start, user_length, L, minimum, stride):
    """Default rule: last = test, second-last = validation, the rest train in pieces of L + 1.

    Every split rule maps per-interaction arrays ``[n]`` (position in the user's
    sequence, index of the user's first interaction, the user's length) to
    ``(role, history_start, is_train_target)``, each ``[n]``.
    """
    evaluated = user_length >= minimum
    role = np.full(len(position), _TRAIN)
    role[evaluated & (position == user_length - 1)] = _TEST
    role[evaluated & (position == user_length - 2)] = _VALIDATION
    index = np.arange(len(position))
    train_piece_start = user_start + ((position - 1) // L) * L
    history_start = np.where(role == _TRAIN, train_piece_start, np.maximum(user_start, index - L))
    return role, history_start, (role == _TRAIN) & (position >= 1)


def _per_sequence_roles(position, user_start, user_length, L, minimum, stride):
    """The paper's text: leave-one-out inside each consecutive piece of L items."""
    piece = position // L
    piece_length = np.minimum(L, user_length - piece * L)
    offset = position - piece * L
    role = np.full(len(position), _TRAIN)
    evaluated = piece_length >= minimum
    role[evaluated & (offset == piece_length - 1)] = _TEST
    role[evaluated & (offset == piece_length - 2)] = _VALIDATION
    return role, user_start + piece * L, (role == _TRAIN) & (offset >= 1)


def _window_roles(position, user_start, user_length, L, minimum, stride):
    """The authors' windows: one training target (third from last) per window of L items."""
    n = len(position)
    kept = user_length >= minimum
    role = np.where(kept, _TRAIN, _DROPPED)
    role[kept & (position == user_length - 1)] = _TEST
    role[kept & (position == user_length - 2)] = _VALIDATION
    index = np.arange(n)
    history_start = np.maximum(user_start, index - L)
    is_train_target = np.zeros(n, dtype=bool)
    firsts = (position == 0) & kept
    starts, lengths = user_start[firsts], user_length[firsts]
    # strided windows [j * stride, j * stride + L) that end before the last item, then the last L items
    strided = np.where(lengths > L, -(-(lengths - L) // stride), 0)
    owner = np.repeat(np.arange(len(starts)), strided + 1)
    j = np.arange(len(owner)) - np.repeat(np.cumsum(strided + 1) - (strided + 1), strided + 1)
    last = j == strided[owner]
    window_start = np.where(last, np.maximum(0, lengths[owner] - L), j * stride)
    window_end = np.minimum(window_start + L, lengths[owner])
    targets = starts[owner] + window_end - WINDOW_TARGET_FROM_END
    is_train_target[targets] = True
    history_start[targets] = starts[owner] + window_start
    return role, history_start, is_train_target


SPLIT_ROLES = {"user": _user_roles, "per-sequence": _per_sequence_roles, "windows": _window_roles}


def build_retrieval(rows: pd.DataFrame, vocab: Vocabularies,
                    options: SequenceOptions) -> RetrievalOutput:
    """Retrieval examples of every user in ``rows`` (one bucket's kept rows)."""
    interactions = sort_interactions(rows)
    num_ids = vocab.size(schema.ITEM_ID)
    users = interactions[schema.USER_ID].to_numpy(dtype=object)
    items = vocab.lookup(schema.ITEM_ID, interactions[schema.ITEM_ID])
    n = len(users)
    first = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if n else np.zeros(0, np.int64)
    lengths = np.diff(np.r_[first, n])
    user_start = np.repeat(first, lengths)
    position = np.arange(n) - user_start
    user_length = np.repeat(lengths, lengths)
    L = options.max_len
    minimum = WINDOW_MIN_INTERACTIONS if options.split == "windows" else schema.MIN_INTERACTIONS_FOR_TEST
    role, history_start, is_train_target = SPLIT_ROLES[options.split](
        position, user_start, user_length, L, minimum, options.window_stride)

    index = np.arange(n)
    user_ids = vocab.lookup(schema.USER_ID, users)
    examples = {}
    for split, selected in ((schema.TRAIN, is_train_target), (schema.VALIDATION, role == _VALIDATION),
                            (schema.TEST, role == _TEST)):
        end = index[selected]
        start = np.maximum(history_start[selected], end - L)
        examples[split] = {
            schema.USER_ID: user_ids[selected],
            schema.HISTORY: history_matrix(items, start, end, L),
            schema.HISTORY_LENGTH: (end - start).astype(np.int64),
            schema.TARGET_ITEM: items[selected],
        }

    popularity = vocab.frequencies(schema.ITEM_ID) if options.negatives_sampling == "popularity" else None
    _add_negatives(examples, users, items, first, lengths, role, options, num_ids, popularity)
    counted = is_train_target if options.split == "windows" else role == _TRAIN
    train_counts = np.bincount(items[counted], minlength=num_ids).astype(np.int64)
    return RetrievalOutput(examples, train_counts, users=len(first),
                           users_too_short=int((lengths < minimum).sum()))


def _add_negatives(examples, users, items, first, lengths, role, options, num_ids,
                   popularity=None) -> None:
    """``NEGATIVES`` for validation and test examples, in example order.

    Each user's generator draws, example by example in time order, the
    validation negatives before the test negatives of the same sequence.
    """
    k = options.eval_negatives
    negatives = {schema.VALIDATION: [], schema.TEST: []}
    split_of = {_VALIDATION: schema.VALIDATION, _TEST: schema.TEST}
    for start, length in zip(first.tolist(), lengths.tolist()):
        roles = role[start:start + length]
        evaluated = np.flatnonzero((roles == _VALIDATION) | (roles == _TEST))
        if not len(evaluated):
            continue
        user = users[start]
        rng = user_rng(options.seed, user)
        seen = items[start:start + length]
        for offset in evaluated.tolist():
            negatives[split_of[int(roles[offset])]].append(
                sample_negatives(rng, num_ids, seen, k, user, popularity))
    for split, rows in negatives.items():
        examples[split][schema.NEGATIVES] = (np.stack(rows) if rows
                                             else np.zeros((0, k), dtype=np.int64))
