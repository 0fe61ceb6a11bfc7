"""The `~` (CONTAINS) operator: a small stand-in for Jira's Lucene text search.

The field text and the query are split into lower-case word tokens. Every query word must occur
in the field (Jira Cloud ANDs the words too); `*` and `?` inside a word are wildcards (`log*`);
a phrase in inner quotes (`summary ~ "\\"login fails\\""`) must occur as consecutive words. A
trailing plural `s` is ignored on both sides (`fails` finds `fail`), a nod to Lucene's English
stemming; the full stemmer, stop words, fuzzy `~` and boolean syntax inside the value are not
reproduced.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

WORD = re.compile(r"\w+")
QUERY_TERM = re.compile(r"[\w*?]+")
PHRASE = re.compile(r'"([^"]*)"')


def stem(word: str) -> str:
    """Drop a plural `s` so `fails`, `fail` compare equal."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@lru_cache(maxsize=262_144)
def analyse(text: str) -> tuple[tuple[str, ...], frozenset[str], tuple[str, ...]]:
    """(raw tokens, stemmed token set, stemmed tokens) of a field's text; cached because issues repeat."""
    raw = tuple(WORD.findall(text.lower()))
    stems = tuple(stem(w) for w in raw)
    return raw, frozenset(stems), stems


def compile_contains(query: str) -> Callable[[str], bool]:
    """A predicate over field text for one `~` value."""
    phrases = [tuple(stem(w) for w in WORD.findall(p.lower())) for p in PHRASE.findall(query)]
    rest = PHRASE.sub(" ", query).lower()
    words, patterns = [], []
    for term in QUERY_TERM.findall(rest):
        if "*" in term or "?" in term:
            body = re.escape(term).replace(r"\*", r"\w*").replace(r"\?", r"\w")
            if body.strip(r"\w*"):
                patterns.append(re.compile(f"^{body}$"))
        else:
            words.append(stem(term))
    phrases = [p for p in phrases if p]
    if not (words or patterns or phrases):
        return lambda text: False

    def contains(text: str) -> bool:
        raw, stem_set, stems = analyse(text)
        if any(w not in stem_set for w in words):
            return False
        if any(not any(p.match(tok) for tok in raw) for p in patterns):
            return False
        return all(_has_run(stems, phrase) for phrase in phrases)

    return contains


def _has_run(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    size = len(phrase)
    return any(tokens[i:i + size] == phrase for i in range(len(tokens) - size + 1))
