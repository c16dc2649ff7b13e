"""Deduplication and an extractive summary of the retrieved articles within a token budget.

Duplicates: the same page (the URL without scheme, `www.`, tracking parameters, fragment or
trailing slash), the same headline (its words, stopwords aside), or the same text (a wire story
syndicated under other headlines: word 5-shingles with a Jaccard overlap of `NEAR_DUPLICATE`
or more). The first one found is kept: providers are asked in order, each best first.

The summary is extractive, not written by a model: each article keeps its sentences that share
the most words with the question and the search queries (the lead sentences get a bonus), in
their original order, as many as fit its share of the budget. Tokens are counted as the LLM
budget counts them (`estimate_tokens`, an overestimate), over the article as the prompt shows
it (header, link and summary), so the rendered articles never exceed `budget` in total.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit

from trader.signals.budget import estimate_tokens
from trader.signals.retrieval.render import article_text
from trader.signals.text import tokenize
from trader.signals.values import RetrievedArticle

NEAR_DUPLICATE = 0.5
_SHINGLE = 5
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'“A-Z0-9])|\n+")
_TRACKING = ("utm_", "fbclid", "gclid", "mc_", "ref", "cmp")
MAX_SENTENCES = 200  # of one article considered


def canonical_url(url: str) -> str:
    parts = urlsplit(url.strip())
    host = parts.netloc.casefold().removeprefix("www.")
    query = [(k, v) for k, v in parse_qsl(parts.query) if not k.casefold().startswith(_TRACKING)]
    path = parts.path.rstrip("/")
    return f"{host}{path}" + (f"?{urlencode(sorted(query))}" if query else "")


def title_key(title: str) -> str:
    return " ".join(tokenize(title))


def shingles(text: str) -> frozenset[tuple[str, ...]]:
    words = tokenize(text)
    if len(words) < _SHINGLE * 4:  # too short to tell copies apart from one another
        return frozenset()
    return frozenset(tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1))


class Deduper:
    """Remembers what was kept; `seen` says whether a page, headline or text is a copy."""

    def __init__(self) -> None:
        self._urls: set[str] = set()
        self._titles: set[str] = set()
        self._texts: list[frozenset[tuple[str, ...]]] = []

    def seen_page(self, url: str, title: str) -> bool:
        key = title_key(title)
        return canonical_url(url) in self._urls or bool(key and key in self._titles)

    def seen_text(self, text: str) -> bool:
        mine = shingles(text)
        if not mine:
            return False
        return any(len(mine & other) / len(mine | other) >= NEAR_DUPLICATE for other in self._texts)

    def keep(self, url: str, title: str, text: str = "") -> None:
        self._urls.add(canonical_url(url))
        key = title_key(title)
        if key:
            self._titles.add(key)
        mine = shingles(text)
        if mine:
            self._texts.append(mine)


def sentences(text: str) -> list[str]:
    parts = (s.strip() for s in _SENTENCE.split(text))
    return [s for s in parts if len(s) > 1][:MAX_SENTENCES]


def _scores(parts: Sequence[str], terms: frozenset[str]) -> list[float]:
    scores = []
    for position, sentence in enumerate(parts):
        words = tokenize(sentence)
        overlap = sum(1 for w in words if w in terms)
        lead = 0.5 if position == 0 else 0.25 if position == 1 else 0.0
        scores.append(overlap / math.sqrt(len(words) + 1) + lead)
    return scores


def _cost(article: RetrievedArticle) -> int:
    return estimate_tokens(article_text(article))


def summarise_one(
    article: RetrievedArticle, text: str, terms: frozenset[str], allowed: int
) -> RetrievedArticle | None:
    """`article` with the best sentences of `text` that fit in `allowed` tokens; None when not
    even its headline fits."""
    parts = sentences(text)
    scores = _scores(parts, terms)
    ranked = sorted(range(len(parts)), key=lambda i: (-scores[i], i))
    chosen: list[int] = []
    for index in ranked:
        trial = sorted([*chosen, index])
        candidate = replace(article, summary=" ".join(parts[i] for i in trial))
        if _cost(candidate) <= allowed:
            chosen = trial
    if chosen:
        return replace(article, summary=" ".join(parts[i] for i in chosen))
    bare = replace(article, summary="")  # shown as its headline alone
    return bare if _cost(bare) <= allowed else None


def summarise(
    articles: Sequence[tuple[RetrievedArticle, str]], terms: Iterable[str], budget: int
) -> list[RetrievedArticle]:
    """Each (article, full text) summarised within an even share of what is left of `budget`,
    in order; an article whose headline no longer fits is left out."""
    vocabulary = frozenset(t for term in terms for t in tokenize(term))
    kept: list[RetrievedArticle] = []
    remaining = budget
    for position, (article, text) in enumerate(articles):
        share = remaining // (len(articles) - position)
        summary = summarise_one(article, text, vocabulary, share)
        if summary is None:
            continue
        kept.append(summary)
        remaining -= _cost(summary)
    return kept
