"""Prompts for the Messages API and the validation of what comes back.

Output format, chosen once: a forced tool call (`tool_choice` names the one tool) whose input
schema is `FORECAST_TOOL` (reasoning first: the outside view with its base rate, the inside view,
the strongest argument against, then the probability), so the reply is a JSON object by
construction; `parse_analysis` still validates it with a pydantic model, and a reply without the
tool call, or with a probability outside [0, 1], is `InvalidOutput`: no estimate, never traded on.
The screen is a forced call of `SCREEN_TOOL`.

The prompt is ordered for prompt caching, stable first: the tools and the system prompt (the
same for every market: the shared prefix), then the market's context (`market_context`: the
question, end date, rules, every news item and every retrieved article, the same for all samples
of one market and, while that evidence is unchanged, from one cycle to the next: the second
cached block), then the sample's own part (`sample_turn`: the current time, then the sample's
instruction, `sample_instruction`). The analyser puts a `cache_control` breakpoint after each of
the first two, so a market's later samples, and its samples in a later cycle within the
context's lifetime, read its context from the cache. The current time is after the breakpoint
on purpose: inside the context it would make every cycle write every market's context again.
Anything added per market that is evidence (retrieved sources, say) belongs inside
`market_context`; anything that varies per sample or per cycle belongs in `sample_turn`, after
the breakpoint, or it breaks the cache.

The samples of one market differ on purpose, by framing: sample `n` is given `FRAMINGS[n mod 5]`
(as asked, the case for NO first, the case for YES first, what must happen for YES, the no-news
forecast then the update). They share the retrieved context: every sample sees every item, so
the context is cached once per market instead of sent whole to each sample.

The system prompts live in `trader.signals.system_prompts`; the analysis one is kept above the
analysis model's minimum cacheable length (2,048 tokens for Sonnet 4.6, the tool-use system
prompt and the tool included): a shorter prefix is silently not cached. News items and retrieved
articles are numbered ([1], [A1]) and shown without their links; the answer cites them by number
and `cited_sources` maps the numbers back to the links. Feed text is untrusted: it is fenced and
the model is told to treat it as data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trader.signals.retrieval.render import retrieved_block, retrieved_headlines
from trader.signals.system_prompts import ANALYSIS_SYSTEM as ANALYSIS_SYSTEM
from trader.signals.system_prompts import SCREEN_GROUP_SYSTEM as SCREEN_GROUP_SYSTEM
from trader.signals.system_prompts import SCREEN_SYSTEM as SCREEN_SYSTEM
from trader.signals.values import AnalysisRequest, Estimate, Source

FORECAST_TOOL_NAME = "submit_forecast"
SCREEN_TOOL_NAME = "screen_market"
_TEXT = {"type": "string", "maxLength": 2000}
FORECAST_TOOL: dict[str, Any] = {
    "name": FORECAST_TOOL_NAME,
    "description": "Submit the forecast for the question, reasoning first, the number last.",
    "input_schema": {
        "type": "object",
        "properties": {
            "outside_view": {**_TEXT, "description": "reference class and base rate"},
            "inside_view": {**_TEXT, "description": "what the specifics and the news change"},
            "counter_argument": {**_TEXT, "description": "the strongest argument against"},
            "probability": {"type": "number", "minimum": 0, "maximum": 1},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "key_factors": {"type": "array", "items": {"type": "string"}, "maxItems": 6},
            "sources_used": {
                "type": "array",
                "items": {"type": "string"},
                "description": "the numbers of the news items relied on, such as 2 or A1",
            },
        },
        "required": [
            "outside_view",
            "inside_view",
            "counter_argument",
            "probability",
            "confidence",
        ],
    },
}
SCREEN_TOOL: dict[str, Any] = {
    "name": SCREEN_TOOL_NAME,
    "description": "Say whether the question deserves the costly analysis now.",
    "input_schema": {
        "type": "object",
        "properties": {"analyse": {"type": "boolean"}, "reason": {"type": "string"}},
        "required": ["analyse", "reason"],
    },
}
SCREEN_GROUP_TOOL_NAME = "screen_markets"
SCREEN_GROUP_TOOL: dict[str, Any] = {
    "name": SCREEN_GROUP_TOOL_NAME,
    "description": "Say, for each numbered market, whether it deserves the costly analysis now.",
    "input_schema": {
        "type": "object",
        "properties": {
            "verdicts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "market": {"type": "integer"},
                        "analyse": {"type": "boolean"},
                        "reason": {"type": "string"},
                    },
                    "required": ["market", "analyse", "reason"],
                },
            }
        },
        "required": ["verdicts"],
    },
}
FRAMINGS = (
    "Forecast the question as asked.",
    "Before settling on a number, make the best case that it resolves NO.",
    "Before settling on a number, make the best case that it resolves YES.",
    "Before settling on a number, list what must happen, and by when, for it to resolve YES "
    "under the rules.",
    "Before settling on a number, say what a forecaster with no news at all would answer, then "
    "how far the news should move that.",
)

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
MAX_NEWS_CHARS = 600
_CITED = re.compile(r"\[?\s*(A?)\s*(\d{1,3})\s*\]?", re.IGNORECASE)  # 2, [2], A1, [A1]


class InvalidOutput(ValueError):
    """The model's answer is not a usable estimate."""


class AnalysisOutput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    outside_view: str = Field(default="", max_length=4000)
    inside_view: str = Field(default="", max_length=4000)
    counter_argument: str = Field(default="", max_length=4000)
    probability: Decimal = Field(ge=0, le=1, allow_inf_nan=False)
    confidence: Decimal = Field(ge=0, le=1, allow_inf_nan=False)
    key_factors: list[str] = Field(default_factory=list, max_length=20)
    sources_used: list[str] = Field(default_factory=list, max_length=50)


class ScreenOutput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    analyse: bool
    reason: str = ""
    cost: Decimal = Decimal(0)  # what the screening call cost (set by the analyser, not the model)


def _reject_constant(name: str) -> Any:
    raise InvalidOutput(f"non-finite number {name} in the answer")


def extract_json(text: str) -> dict[str, Any]:
    """The JSON object in `text`: bare, fenced, or between the outermost braces."""
    candidates = [text.strip()]
    candidates.extend(m.strip() for m in _FENCE.findall(text))
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate, parse_float=Decimal, parse_constant=_reject_constant)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise InvalidOutput("no JSON object in the answer")


def _as_object(answer: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """A tool call's input as it came, or the JSON object inside a text answer."""
    if isinstance(answer, str):
        return extract_json(answer)
    return answer


def parse_analysis(
    answer: str | Mapping[str, Any], request: AnalysisRequest | None = None
) -> Estimate:
    """A forced tool call's input (or, from a provider without tools, a JSON text answer). With
    the `request` it answered, the items it cites by number become their links."""
    try:
        output = AnalysisOutput.model_validate(_as_object(answer))
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise InvalidOutput(f"answer failed validation ({fields})") from exc
    return Estimate(
        probability=output.probability,
        confidence=output.confidence,
        key_factors=tuple(f.strip()[:300] for f in output.key_factors[:6] if f.strip()),
        sources_used=cited_sources(output.sources_used, request),
        source=Source.LLM,
        reasoning=_reasoning(output),
    )


def cited_sources(cited: Sequence[str], request: AnalysisRequest | None) -> tuple[str, ...]:
    """What the answer cites, the numbers shown in the prompt ("2" or "[2]" a news item, "A1" a
    retrieved article) as the item's link (its title when it has none); anything else as given."""
    out: list[str] = []
    for text in (c.strip()[:500] for c in cited):
        found = _CITED.fullmatch(text) if request is not None else None
        out.append(_cited_item(request, found) if request and found else text)
    return tuple(dict.fromkeys(s for s in out if s))


def _cited_item(request: AnalysisRequest, found: re.Match[str]) -> str:
    article, number = bool(found.group(1)), int(found.group(2))
    if article:
        articles = request.retrieved or ()
        if 1 <= number <= len(articles):
            return articles[number - 1].url or articles[number - 1].title
    elif 1 <= number <= len(request.news):
        return request.news[number - 1].item.link or request.news[number - 1].item.title
    return found.group(0)  # a number the prompt did not show: kept as the model gave it


def _reasoning(output: AnalysisOutput) -> str:
    parts = (
        ("outside view", output.outside_view),
        ("inside view", output.inside_view),
        ("against", output.counter_argument),
    )
    return " | ".join(f"{name}: {text.strip()}" for name, text in parts if text.strip())


def parse_screen(answer: str | Mapping[str, Any]) -> ScreenOutput:
    try:
        output = ScreenOutput.model_validate(_as_object(answer))
        return output.model_copy(update={"cost": Decimal(0)})
    except ValidationError as exc:
        raise InvalidOutput("screen answer failed validation") from exc


def _news_block(request: AnalysisRequest) -> str:
    if not request.news:
        return "(no recent news matched this market)"
    lines = []
    for n, match in enumerate(request.news, start=1):
        item = match.item
        lines.append(
            # no link: the model cites an item by its number, mapped back by `cited_sources`
            f"[{n}] {item.published:%Y-%m-%d %H:%M} UTC | {item.source} | {item.title}\n"
            f"    {item.summary[:MAX_NEWS_CHARS]}"
        )
    return "\n".join(lines)


def market_context(request: AnalysisRequest) -> str:
    """What every sample of one market is shown: the cached per-market block of the prompt. It
    depends only on the market's evidence (question, end date, rules, news, retrieved articles),
    not on the time it is asked at."""
    market = request.market
    end = f"{market.end_date:%Y-%m-%d %H:%M} UTC" if market.end_date else "not stated"
    return (
        # no current time here: it is in `sample_turn`, after the breakpoint (see the module doc)
        f"Question: {market.question}\n"
        f"End date: {end}\n"
        f"Resolution rules:\n<rules>\n{market.description or '(none given)'}\n</rules>\n"
        f"Recent news (untrusted data):\n<news>\n{_news_block(request)}\n</news>\n"
        # --- retrieval (trader.signals.retrieval.render): every searched article, shown to
        # every sample inside the cached per-market block; "" when retrieval did not run ---
        f"{retrieved_block(request)}"
    ).rstrip("\n")


def sample_instruction(sample: int) -> str:
    """What differs between the samples of one market; it follows the cached blocks."""
    return (
        f"Independent estimate #{sample + 1}. {FRAMINGS[sample % len(FRAMINGS)]} "
        f"Answer with the {FORECAST_TOOL_NAME} tool."
    )


def current_time(request: AnalysisRequest) -> str:
    return f"Current time: {request.now:%Y-%m-%d %H:%M} UTC"


def sample_turn(request: AnalysisRequest, sample: int) -> str:
    """What follows the cached context in one sample's request, billed as plain input: the
    current time (the only place the model is told it), then the sample's instruction."""
    return f"{current_time(request)}\n{sample_instruction(sample)}"


def analysis_prompt(request: AnalysisRequest, *, sample: int = 0) -> str:
    """The user turn for one market as one text (for providers that cache prefixes on their
    own): the market's context, then the sample's part (the current time and its instruction)."""
    return f"{market_context(request)}\n{sample_turn(request, sample)}"


def _headlines(request: AnalysisRequest) -> str:
    if not request.news:
        return "(no recent news matched this market)"
    return "\n".join(
        f"[{n}] {m.item.published:%Y-%m-%d %H:%M} UTC | {m.item.source} | {m.item.title}"
        for n, m in enumerate(request.news, start=1)
    )


def screen_prompt(request: AnalysisRequest) -> str:
    """The screen decides on the price, the question and the headlines (the deep analysis gets
    the summaries and links too)."""
    return (
        f"Question: {request.market.question}\n"
        f"Market price of YES: {request.market_probability}\n"
        f"Recent headlines (untrusted data):\n<news>\n{_headlines(request)}\n</news>\n"
        f"{retrieved_headlines(request)}"  # retrieval: "" when it did not run
    ).rstrip("\n")


def screen_group_prompt(requests: Sequence[AnalysisRequest]) -> str:
    """Several markets for one screening call, numbered from 1."""
    return "\n".join(
        f'<market number="{n}">\n{screen_prompt(request)}\n</market>'
        for n, request in enumerate(requests, start=1)
    )


class _Verdict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    market: int
    analyse: bool
    reason: str = ""


class _Verdicts(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    verdicts: list[_Verdict]


def parse_screen_group(answer: Mapping[str, Any], count: int) -> list[ScreenOutput | None]:
    """One verdict per market, in the order given; None for a market the answer left out (or
    answered twice, differently)."""
    try:
        verdicts = _Verdicts.model_validate(answer).verdicts
    except ValidationError as exc:
        raise InvalidOutput("screen answer failed validation") from exc
    found: dict[int, ScreenOutput | None] = {}
    for verdict in verdicts:
        output = ScreenOutput(analyse=verdict.analyse, reason=verdict.reason)
        seen = found.get(verdict.market, output)
        found[verdict.market] = output if seen == output else None
    return [found.get(n) for n in range(1, count + 1)]
