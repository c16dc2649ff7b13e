"""Text relevance without a network model: tokenise, drop stopwords, TF-IDF, cosine similarity.

Markets are the indexed documents (question weighted above description); a news item is scored
against every market. Inverse document frequency comes from the markets plus the news being
matched, so words every market shares ("will", "resolve", "2026") weigh little.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves also may might must shall
    per via vs s t don new says said one two get gets got make makes made
    market markets resolve resolves resolved resolution yes otherwise source sources according
    question event events outcome outcomes rules
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
TOKEN_CACHE = 1 << 16  # distinct texts remembered (markets and news items: a few MB at most)


def _stem(token: str) -> str:
    """Fold common English plurals and possessives; enough to match "tariffs" with "tariff"."""
    if token.endswith("'s"):
        token = token[:-2]
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 4 and token.endswith(("ches", "shes", "xes", "sses")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens without stopwords; single letters dropped, numbers kept."""
    return list(_tokens(text))


@functools.lru_cache(maxsize=TOKEN_CACHE)
def _tokens(text: str) -> tuple[str, ...]:
    """`tokenize`, remembered: the same markets and news items are matched every cycle (a
    backtest re-matches every item published so far each cycle), and the regex and stemming
    were half of that work. Pure, so caching changes no result."""
    tokens: list[str] = []
    for raw in _TOKEN.findall(text.casefold()):
        token = _stem(raw)
        if token in STOPWORDS or (len(token) < 2 and not token.isdigit()):
            continue
        tokens.append(token)
    return tuple(tokens)


def _weights(counts: Mapping[str, float], idf: Mapping[str, float]) -> dict[str, float]:
    """Sublinear tf times idf, L2-normalised."""
    vector = {
        term: (1.0 + math.log(count)) * idf.get(term, 0.0)
        for term, count in counts.items()
        if count > 0
    }
    norm = math.sqrt(sum(w * w for w in vector.values()))
    if norm == 0.0:
        return {}
    return {term: w / norm for term, w in vector.items()}


class RelevanceIndex:
    """Market documents as TF-IDF vectors; `score` gives the cosine of a text against each."""

    def __init__(
        self,
        documents: Mapping[str, tuple[str, str]],
        *,
        extra_corpus: Iterable[str] = (),
        title_weight: float = 2.0,
    ) -> None:
        """`documents` maps a market id to (question, description)."""
        counted: dict[str, dict[str, float]] = {}
        for key, (title, body) in documents.items():
            counts: dict[str, float] = {}
            for token in tokenize(title):
                counts[token] = counts.get(token, 0.0) + title_weight
            for token in tokenize(body):
                counts[token] = counts.get(token, 0.0) + 1.0
            counted[key] = counts
        doc_sets: list[set[str]] = [set(c) for c in counted.values()]
        doc_sets.extend(set(tokenize(text)) for text in extra_corpus)
        self.idf = self._idf(doc_sets)
        self._vectors = {key: _weights(c, self.idf) for key, c in counted.items()}
        # term -> (market, its weight there): one lookup per posting when scoring
        self._postings: dict[str, list[tuple[str, float]]] = {}
        for key, vector in self._vectors.items():
            for term, weight in vector.items():
                self._postings.setdefault(term, []).append((key, weight))

    @staticmethod
    def _idf(doc_sets: Sequence[set[str]]) -> dict[str, float]:
        frequency: Counter[str] = Counter()
        for terms in doc_sets:
            frequency.update(terms)
        n = len(doc_sets)
        return {term: math.log((1 + n) / (1 + df)) + 1.0 for term, df in frequency.items()}

    def vector(self, text: str) -> dict[str, float]:
        return _weights(Counter(tokenize(text)), self.idf)

    def score(self, text: str) -> dict[str, float]:
        """Cosine similarity of `text` to each market sharing a term with it (others score 0)."""
        query = self.vector(text)
        scores: dict[str, float] = {}
        postings = self._postings
        for term, weight in query.items():
            for key, document_weight in postings.get(term, ()):
                scores[key] = scores.get(key, 0.0) + weight * document_weight
        return scores
