"""``sahit zoo``: the trained models shipped with sahit and their scores."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``zoo`` to the ``sahit`` parser."""
    p = subparsers.add_parser("zoo", help="list the trained models shipped with sahit (zoo:NAME) and their scores")
    p.add_argument("name", nargs="?", default=None,
                   help="show this entry's whole card (data, recipe, command, machine, scores) instead")


def run(args: argparse.Namespace) -> int:
    """Print a table of the zoo's cards, then each card's description; with a name, that entry's card."""
    from .. import zoo

    if args.name is not None:
        return _print_card(zoo.card(args.name))
    cards = zoo.cards()
    if not cards:
        print("this installation has no zoo models")
        return 0
    print("trained models shipped with sahit: use them as --run zoo:NAME or sahit.load('zoo:NAME')")
    print("(scores of 5,000 EMA samples against real images the model did not train on, in the features of a "
          "classifier of its data, zoo:DATA; lower FID and intra-FID and higher class accuracy are better; "
          "card.json says which images)\n")
    rows = [("name", "family", "res", "steps", "train time", "FID", "class acc", "intra-FID", "data")]
    for card in cards:
        scores = card.get("scores", {})
        rows.append((card["name"], card["family"], str(card["resolution"]), f"{card['steps']:,}",
                     f"{card['train_minutes']:.0f} min", _score(scores.get("fid")), _score(scores.get("acc")),
                     _score(scores.get("ifid")), card.get("data_name") or card["data"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for card in cards:
        print(f"\n{card['name']}: {card['description']}")
        if card.get("note"):
            print(f"  ({card['note']})")
    return 0


def _print_card(card: dict) -> int:
    for key, value in card.items():
        per_class = value.get("per_class") if isinstance(value, dict) else None
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items() if k != "per_class")
        print(f"{key}: {value}")
        if per_class:
            print("per class:")
            width = max(len(name) for name in per_class)
            for name, scores in per_class.items():
                print(f"  {name.ljust(width)}  " + ", ".join(f"{_LABELS.get(m, m)} {_score(v)}" for m, v in scores.items()))
    return 0


_LABELS = {"acc": "class acc", "ifid": "intra-FID"}


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
