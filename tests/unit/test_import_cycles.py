"""No import cycle between the modules of trader/ and bot/ (nor polysim/): the graph of
imports that run at import time (module level, not under TYPE_CHECKING, not in functions)
has no cycle. The checker itself is shown to find one, and to leave out what does not run."""

from __future__ import annotations

from pathlib import Path

from tests.support.import_graph import build_graph, cycles

REPOSITORY = Path(__file__).resolve().parents[2]


def test_no_module_of_the_product_or_the_workshop_imports_itself_in_a_circle() -> None:
    graph = build_graph(REPOSITORY, ("trader", "bot", "polysim"))

    found = cycles(graph)

    assert len(graph) > 150  # the packages were read
    assert found == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_names_a_cycle_through_relative_and_absolute_imports(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "from .sub import c\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/c.py": "import pkg.a\n",
            "pkg/d.py": "from pkg.a import name\n",  # into the cycle, not part of it
        },
    )

    assert cycles(build_graph(tmp_path, ["pkg"])) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]


def test_imports_for_typing_or_inside_functions_are_not_edges(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import thing\n",  # re-export: not a cycle
            "pkg/a.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg import b\n"
            "thing = 1\n",
            "pkg/b.py": "import pkg.a\ndef later():\n    from pkg import c\n",
            "pkg/c.py": "try:\n    from pkg import b\nexcept ImportError:\n    pass\n",
        },
    )

    graph = build_graph(tmp_path, ["pkg"])

    assert graph["pkg.a"] == set()
    assert graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.b"}  # a guarded import still runs at import time
    assert cycles(graph) == []
