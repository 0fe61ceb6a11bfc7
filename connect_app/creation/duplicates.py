"""Duplicate candidates for a draft: open issues of the same site and project whose summary reads like it.

Scored with RapidFuzz on normalised text (lower case, punctuation out): 40% `token_set_ratio` (one
text's words inside the other's) and 60% `token_sort_ratio` (the same words overall), so a short
summary that happens to share one word with a long one does not look like a duplicate. The draft's
description is compared too, discounted, for a CSM whose summary is vague but whose text names the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils

THRESHOLD = 0.6
SET_WEIGHT = 0.4
DESCRIPTION_DISCOUNT = 0.85
DESCRIPTION_CHARS = 300
LIMIT = 5


@dataclass(frozen=True)
class Candidate:
    """An open issue that might already be the one the CSM is about to file."""

    key: str
    summary: str
    status: str | None
    customers: int


def _blend(query: str, choice: str, **_: object) -> float:
    return SET_WEIGHT * fuzz.token_set_ratio(query, choice) + (1 - SET_WEIGHT) * fuzz.token_sort_ratio(query, choice)


def rank(summary: str, description: str, candidates: Sequence[Candidate], *, limit: int = LIMIT,
         threshold: float = THRESHOLD) -> list[tuple[Candidate, float]]:
    """The likeliest duplicates, best first, each with its score in [0, 1] (at least `threshold`)."""
    if not candidates:
        return []
    choices = [utils.default_process(c.summary) for c in candidates]
    best: dict[int, float] = {}
    queries = [(utils.default_process(summary), 1.0)]
    if description.strip():
        queries.append((utils.default_process(description[:DESCRIPTION_CHARS]), DESCRIPTION_DISCOUNT))
    for query, weight in queries:
        if not query:
            continue
        cutoff = threshold * 100 / weight
        for _, score, index in process.extract(query, choices, scorer=_blend, limit=limit * 4,
                                               score_cutoff=min(cutoff, 100)):
            best[index] = max(best.get(index, 0.0), score * weight / 100)
    ranked = sorted(best.items(), key=lambda item: (-item[1], candidates[item[0]].key))
    return [(candidates[index], round(score, 2)) for index, score in ranked[:limit]]
