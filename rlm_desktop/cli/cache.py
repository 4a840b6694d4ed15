"""``rlm-desktop cache stats | clear``: the persistent answer cache (``llm/cache.py``)."""

from __future__ import annotations

import argparse

from rlm_desktop.llm.cache import SubcallCache


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("cache", help="show or clear the cache of model answers")
    actions = parser.add_subparsers(dest="cache_action", metavar="ACTION")
    p = actions.add_parser("stats", help="entries, hits and size of the answer cache")
    p.set_defaults(func=cmd_stats)
    p = actions.add_parser("clear", help="delete every cached answer")
    p.set_defaults(func=cmd_clear)
    parser.set_defaults(func=cmd_stats)


def cmd_stats(args: argparse.Namespace) -> int:
    cache = SubcallCache()
    stats = cache.stats()
    print(f"cache: {cache.path}")
    print(f"answers: {stats.entries}  hits: {stats.hits}  model time saved: {stats.saved_s:.1f} s  size: {stats.bytes / 1e6:.1f} MB")
    for model, count in sorted(stats.models.items()):
        print(f"  {model}: {count}")
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    count = SubcallCache().clear()
    print(f"cleared {count} cached answer{'s' if count != 1 else ''}")
    return 0
