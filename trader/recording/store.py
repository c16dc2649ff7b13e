"""The recording on disk: `<root>/<kind>/date=YYYY-MM-DD/part-<HHMMSS>-<n>.parquet`.

One file per kind and day per flush (zstd-compressed), written to a sibling `.tmp` name and
renamed, so a crash mid-write leaves no half file that a reader would trip on. Retention
deletes whole day partitions older than the limit. pyarrow is imported inside the functions
that use it: a trader with the recorder off never loads it (it weighs tens of megabytes).
Every method here blocks (file I/O): the recorder calls them on a worker thread.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from trader.recording.rows import COLUMNS, Row

PARTITION = "date="


class ParquetStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._sequence = itertools.count()

    def write(self, kind: str, rows: Sequence[Row]) -> list[Path]:
        """Append `rows` of `kind`, one file per day they fall on; the files written."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        by_day: dict[date, list[Row]] = {}
        for row in rows:
            by_day.setdefault(row["at"].date(), []).append(row)
        schema = _schema(kind)
        written = []
        for day, members in sorted(by_day.items()):
            folder = self.root / kind / f"{PARTITION}{day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            stamp = members[0]["at"].strftime("%H%M%S")
            path = folder / f"part-{stamp}-{next(self._sequence):06d}.parquet"
            table = pa.Table.from_pylist(members, schema=schema)
            temporary = path.with_suffix(".tmp")
            pq.write_table(table, temporary, compression="zstd")
            temporary.replace(path)
            written.append(path)
        return written

    def days(self, kind: str) -> list[date]:
        folder = self.root / kind
        if not folder.is_dir():
            return []
        found = []
        for child in folder.iterdir():
            if child.is_dir() and child.name.startswith(PARTITION):
                try:
                    found.append(date.fromisoformat(child.name[len(PARTITION) :]))
                except ValueError:
                    continue  # not ours
        return sorted(found)

    def read(self, kind: str, start: datetime, end: datetime) -> list[Row]:
        """The rows of `kind` with `start <= at <= end`, in time order (ties: file order)."""
        import pyarrow.parquet as pq

        rows: list[Row] = []
        for day in self.days(kind):
            if not start.date() <= day <= end.date():
                continue
            folder = self.root / kind / f"{PARTITION}{day.isoformat()}"
            for path in sorted(folder.glob("*.parquet")):
                rows.extend(r for r in pq.read_table(path).to_pylist() if start <= r["at"] <= end)
        rows.sort(key=lambda r: r["at"])
        return rows

    def prune(self, today: date, keep_days: int) -> list[Path]:
        """Delete every day partition older than `keep_days` before `today`; what was deleted."""
        oldest = today - timedelta(days=keep_days)
        deleted = []
        for kind in COLUMNS:
            for day in self.days(kind):
                if day < oldest:
                    folder = self.root / kind / f"{PARTITION}{day.isoformat()}"
                    shutil.rmtree(folder)
                    deleted.append(folder)
        return deleted

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._files())

    def _files(self) -> Iterable[Path]:
        return self.root.glob("*/date=*/*.parquet") if self.root.is_dir() else ()


def _schema(kind: str) -> Any:
    import pyarrow as pa

    types = {
        "time": pa.timestamp("us", tz="UTC"),
        "str": pa.string(),
        "strs": pa.list_(pa.string()),
        "int": pa.int64(),
        "bool": pa.bool_(),
    }
    return pa.schema([(name, types[kind_of]) for name, kind_of in COLUMNS[kind]])
