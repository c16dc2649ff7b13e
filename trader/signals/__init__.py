"""The signal pipeline: news, triage, analysis (LLM or heuristic), ensemble, sizing, strategies.

It reads facts and returns order intents; it never imports `trader.execution`.
"""
