"""Why the trader did what it did: a decision's chain rebuilt from the records (/why)."""

from trader.explain.chain import ChainRecords, reconstruct
from trader.explain.service import WhyService

__all__ = ["ChainRecords", "WhyService", "reconstruct"]
