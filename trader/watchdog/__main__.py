"""`python -m trader.watchdog`."""

from __future__ import annotations

from trader.watchdog.run import main

if __name__ == "__main__":
    main()
