"""langsteer: find language-expert neurons, intervene on them, measure the embedding space.

The quickest way in is :func:`langsteer.compare`, one comparison study from Python::

    import langsteer

    results = langsteer.compare(
        model="embedded", corpus="bible", languages=["eng", "deu", "fra"], targets=["fra"],
        methods=[{"name": "experts", "k": 300}, "none", "per-language-centring"],
    )
    print(results["leaderboard"][0])

``import langsteer`` stays cheap: ``compare`` (and torch with it) is imported on first use.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("langsteer")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "compare"]


def __getattr__(name: str) -> Any:
    if name == "compare":
        from langsteer.api import compare

        return compare
    raise AttributeError(f"module 'langsteer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "compare"])
