"""``sahit presets``: the training presets and model presets, with the recipe each trains with."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``presets`` to the ``sahit`` parser."""
    subparsers.add_parser("presets", help="list training and model presets")


def run(args: argparse.Namespace) -> int:
    """Print both kinds of preset."""
    from ..faithfulness import recipe_summary
    from ..models import presets
    from ..training.config import available_presets, load_preset

    print("Two kinds of preset share names. A training preset is a YAML file (src/sahit/configs/NAME.yaml) for")
    print("`sahit train --preset NAME`: data, steps, training recipe and the model preset it trains. A model preset")
    print("is an architecture only, for `sahit.build(NAME)` and the `model:` key of a training preset.\n")
    print("training presets, with the recipe each trains with and the values where it differs from it")
    print("(docs/faithfulness.md says why):")
    for name in available_presets():
        values = load_preset(name)
        data = values.get("data") or "(--data required)"
        print(f"  {name:24s} model={values.get('model')}  steps={values.get('steps')}  data={data}")
        print(f"  {'':24s} recipe: {recipe_summary(name)}")
    print("\nmodel presets (architectures; those with a recipe line have no training preset of their name and")
    print("`sahit train --preset NAME` trains them with their family's recipe):")
    shipped = set(available_presets())
    for name, preset in sorted(presets().items()):
        print(f"  {name:24s} {preset.description}")
        if name not in shipped:
            print(f"  {'':24s} recipe: {recipe_summary(name)}")
    return 0
