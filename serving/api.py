"""Request and response bodies of the recommend API (pydantic, so FastAPI
validates them and publishes them in the OpenAPI spec).

Limits come from :mod:`serving.settings`; the ``context`` object's fields come
from :mod:`funnel.schema` (every ``Source.CONTEXT`` feature), so a feature added
to the schema shows up here without a string literal. Unknown fields are
refused (422 naming the field) rather than silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema,
                      create_model)

from funnel import schema
from serving import settings


def _integer_as_decimal(value):
    """JSON integers (MovieLens ids are numbers) become their decimal string; anything
    else, booleans and floats included, is left for the strict ``str`` check to refuse."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800") cannot reach the models
            raise ValueError("not a valid unicode string (lone surrogate)") from None
    return value


_ID_JSON_SCHEMA = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": settings.MAX_ID_CHARS},
                             {"type": "integer", "description": "read as its decimal string"}]}

RawId = Annotated[str, BeforeValidator(_integer_as_decimal),
                  StringConstraints(min_length=1, max_length=settings.MAX_ID_CHARS),
                  WithJsonSchema(_ID_JSON_SCHEMA)]
"""A raw id as the data has it: a non-empty string, or an integer read as its
decimal string (``7`` is ``"7"``)."""
ItemId = RawId
UserId = RawId

_CONTEXT_RANGES = {schema.HOUR: 23, schema.WEEKDAY: 6}
"""Largest value of each context feature (HOUR 0..23; WEEKDAY 0..6, Monday = 0, UTC)."""


def _context_model() -> type[BaseModel]:
    fields = {}
    for f in schema.RANKING_FEATURES:
        if f.source is not schema.Source.CONTEXT:
            continue
        upper = _CONTEXT_RANGES.get(f.name)
        value_type = Annotated[int, Field(ge=0, le=upper)] if upper is not None else str
        fields[f.name] = (Optional[value_type], Field(default=None, strict=True))
    return create_model("Context", __config__=ConfigDict(extra="forbid"), **fields)


Context = _context_model()
"""Request-time features; missing ones are taken from the server clock (UTC)."""


class RecommendRequest(BaseModel):
    """One user's request: raw item ids, most recent last."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: Optional[UserId] = Field(
        default=None, description="raw user id (a string, or an integer read as its decimal string); "
        "its profile feeds the ranking model when known")
    history: list[ItemId] = Field(
        default_factory=list, max_length=settings.MAX_HISTORY,
        description="raw item ids (strings, or integers read as their decimal string), most recent "
        "last; unknown ids are ignored and named in warnings")
    context: Optional[Context] = None
    k: int = Field(default=10, ge=1, le=settings.MAX_K, description="items returned")
    candidates: Optional[int] = Field(
        default=None, ge=1, le=settings.MAX_CANDIDATES,
        description="retrieved candidates ranked (at least k are ranked); the default is the export's: "
        "the list depth the ranker trained on, as the export's gate evaluated it")
    exclude_history: bool = True
    explain: bool = Field(
        default=False, description="also return the history used and the retrieved candidates")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    requests: list[RecommendRequest] = Field(min_length=1, max_length=settings.MAX_BATCH_REQUESTS)


SCORE_MEANING = (
    "the answer's `order` model's probability for this item: a list ranker's softmax of its logits over "
    "the request's candidates (the probability that it is the next item among them); a pointwise "
    "ranker's click probability; in retrieval order, the softmax of the retrieval scores (eq. 4, at "
    "the retrieval run's training temperature) over the candidates; in a fallback, the item's share "
    "of popularity")
"""What ``score`` is; the engine computes it so (``Engine._scores``)."""


class RecommendedItem(BaseModel):
    item_id: str
    score: float = Field(description=SCORE_MEANING)
    retrieval_score: float = Field(description="eq. 4 multi-interest score (fallback: popularity share)")
    rank: int
    title: Optional[str] = None


class Candidate(BaseModel):
    item_id: str
    retrieval_score: float
    title: Optional[str] = None
    interest: Optional[int] = Field(default=None, description="which of the M interests nominated it")
    score: Optional[float] = Field(default=None, description=SCORE_MEANING)


class HistoryItem(BaseModel):
    item_id: str
    known: bool
    title: Optional[str] = None


class Recommendation(BaseModel):
    """One request's answer as the engine builds it: a :class:`RecommendResponse` without ``took_ms``.

    ``history`` and ``candidates`` are set only for a request with ``explain``;
    the routes leave unset fields out of the JSON.
    """

    items: list[RecommendedItem]
    model_versions: dict[str, str]
    warnings: list[str]
    fallback: bool = Field(description="true when the history had no known item: most popular items")
    order: str = Field(default="ranking", description="how items are ordered: 'ranking', 'retrieval' "
                       "(the export's gate found ranking no better on validation users, or "
                       "`funnel serve --order retrieval`) or 'popularity' (fallback)")
    history: Optional[list[HistoryItem]] = None
    candidates: Optional[list[Candidate]] = None


class RecommendResponse(Recommendation):
    took_ms: float

    @classmethod
    def timed(cls, answer: Recommendation, took_ms: float) -> RecommendResponse:
        """``answer`` with the time the route measured; the fields ``answer`` left unset stay unset."""
        values = {name: getattr(answer, name) for name in answer.model_fields_set}
        return cls(**values, took_ms=took_ms)


class BatchResponse(BaseModel):
    responses: list[RecommendResponse]
    took_ms: float


class RefusedVersion(BaseModel):
    version: str
    error: str
    at: float


class LoadedVersion(BaseModel):
    version: str
    model_versions: dict[str, str]
    loaded_at: float
    warm_ms: float
    order: str = Field(description="how answers are ordered: 'ranking' or 'retrieval' (the manifest's "
                       "gate, or `funnel serve --order`)")
    created: Optional[str] = Field(default=None, description="when the export version was built")
    catalog: dict = Field(description="the catalog: `items`, `embedding_dim`, `interests` (M), `scoring`")
    schema_fingerprint: Optional[str] = Field(default=None, description="the feature contract's hash; "
                                              "requests follow the schema it names")
    gate: Optional[dict] = Field(default=None, description="the export's gate on validation users: the "
                                 "`order` it chose, its `candidates` per user, both orders' figures; none "
                                 "without `funnel export --data`")
    manifest: Optional[dict] = Field(default=None, description="the whole manifest (training runs, "
                                     "paths, options): only with 'Authorization: Bearer <admin token>'")


class ModelsResponse(BaseModel):
    backend: str
    ready: bool
    active: Optional[LoadedVersion]
    refused: list[RefusedVersion]
    reloading: bool


class SampleUser(BaseModel):
    user_id: Optional[str]
    label: str
    history: list[str]


class SamplesResponse(BaseModel):
    users: list[SampleUser]
    has_titles: bool


class ItemMatch(BaseModel):
    item_id: str
    title: Optional[str] = None


class ItemsResponse(BaseModel):
    query: str
    items: list[ItemMatch] = Field(description="best first: exact title or id, then prefix, then "
                                   "substring matches; the most popular first within each")
    matches: int = Field(description="items that match; the first `limit` are listed")


class ErrorResponse(BaseModel):
    error: str
    detail: Optional[list] = None
