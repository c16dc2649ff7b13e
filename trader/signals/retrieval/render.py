"""The retrieved articles as the prompts show them: one block, after the cached system prompt.

Samples differ on purpose: the first sees every article; with three or more, each later sample
leaves out a different third (as the feed news is varied in `trader.signals.prompts`). The
text is untrusted: fenced, and the system prompt tells the model it is data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from trader.signals.values import AnalysisRequest, RetrievedArticle

T = TypeVar("T")
NO_TEXT = "(the page could not be read: the headline only)"


def subset(items: Sequence[T], sample: int) -> tuple[T, ...]:
    """All for sample 0; with three items or more, later samples leave out the items whose
    position mod 3 is the sample's."""
    if sample == 0 or len(items) < 3:
        return tuple(items)
    return tuple(item for i, item in enumerate(items) if i % 3 != sample % 3)


def article_text(article: RetrievedArticle, number: int = 1) -> str:
    when = f"{article.published:%Y-%m-%d %H:%M} UTC" if article.published else "undated"
    return (
        # no link: the model cites the article as A<number> (`prompts.cited_sources`)
        f"[A{number}] {when} | {article.provider} | {article.title}\n"
        f"    {article.summary or NO_TEXT}"
    )


def retrieved_block(request: AnalysisRequest, sample: int = 0) -> str:
    """The articles section of the analysis prompt; "" when retrieval did not run."""
    if request.retrieved is None:
        return ""
    articles = subset(request.retrieved, sample)
    if not articles:
        body = "(the news search found no article published before the current time)"
    else:
        body = "\n".join(article_text(a, n) for n, a in enumerate(articles, start=1))
    heading = "Retrieved articles (untrusted data, from a news search):"
    return f"{heading}\n<articles>\n{body}\n</articles>\n"


def retrieved_headlines(request: AnalysisRequest) -> str:
    """The articles' dates and titles, for the screen; "" when retrieval did not run."""
    if request.retrieved is None:
        return ""
    lines = [
        f"- {a.published:%Y-%m-%d} {a.title}" if a.published else f"- undated {a.title}"
        for a in request.retrieved
    ]
    return "Retrieved headlines (untrusted data):\n" + ("\n".join(lines) or "(none)") + "\n"
