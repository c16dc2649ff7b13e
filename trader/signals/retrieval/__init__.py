"""Retrieval: news found for each market the screen lets through, read and summarised.

For a market that passed the triage (`trader.signals.triage`), the cheap model writes a few
search queries (`queries`; the question's own words when no model answers), each search
provider answers them (`gdelt`: keyless, the default; `exa`: keyed), the hits published
before the analysis's "now" are fetched and reduced to text with trafilatura (`articles`),
deduplicated and summarised extractively within a token budget (`digest`), and the analysis
prompt shows them after the cached system prompt (`render`). `retriever.Retriever` runs it.

This package's `__init__` imports nothing, so `trader.signals.prompts` can import `render`
without pulling in the providers.
"""
