"""``ares catalog list`` / ``ares catalog show TYPE ID``."""

from __future__ import annotations

import argparse

from ares_rlhf.records import COMPONENT_TYPES
from ares_rlhf.taxonomy.catalog import BUILTIN, load_catalog


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalog",
        action="append",
        default=None,
        metavar="FILE",
        help="catalog file(s) merged in order (default: builtin; name 'builtin' to extend it)",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    lst = sub.add_parser("list", help="list components by type")
    lst.add_argument("type", nargs="?", choices=COMPONENT_TYPES)
    show = sub.add_parser("show", help="show one component with its fragments")
    show.add_argument("type", choices=COMPONENT_TYPES)
    show.add_argument("id")
    sub.add_parser("validate", help="check the catalog files")


def run(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog or [BUILTIN])
    if args.action == "validate":
        sizes = ", ".join(f"{n} {t}s" for t, n in catalog.sizes().items())
        print(f"valid catalog ({sizes}; {catalog.combination_count} combinations)")
        return 0
    if args.action == "show":
        component = catalog.get(args.type, args.id)
        print(f"{component.type} {component.id}: {component.description}")
        if component.categories:
            print(f"  categories: {', '.join(component.categories)}")
        for name, values in component.fragments.items():
            print(f"  {name}:")
            for value in values:
                print("    - " + value.replace("\n", "\n      "))
        for number, alternatives in enumerate(component.turns, start=1):
            print(f"  turn {number}:")
            for value in alternatives:
                print("    - " + value.replace("\n", "\n      "))
        return 0
    types = [args.type] if args.type else list(COMPONENT_TYPES)
    for ctype in types:
        print(f"{ctype}s ({len(catalog.ids(ctype))}):")
        for component in catalog.components[ctype].values():
            print(f"  {component.id:<22} {component.description}")
    if not args.type:
        print(f"{catalog.combination_count} combinations")
    return 0
