"""``sahit presets``: the training presets and model presets, with the recipe each trains with."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``presets`` to the ``sahit`` parser."""
    subparsers.add_parser("presets", help="list training and model presets")


def run(args: argparse.Namespace) -> int:
    """Print the training presets (with their bases), the family recipes, the model presets and earlier names."""
    from ..faithfulness import recipe_summary
    from ..models import presets
    from ..models.registry import families, family_of, model_aliases
    from ..training.config import LEGACY_PRESETS, DataConfig, available_presets, load_preset, preset_yaml

    print("training presets (`sahit train --preset NAME`; src/sahit/configs/NAME.yaml): the data, steps and model")
    print("preset they train, and the recipe, as the values that differ from their base (a family's recipe or")
    print("another training preset); docs/faithfulness.md says why each differs from the official code:")
    for name in available_presets():
        values = load_preset(name)
        data = values.get("data", DataConfig.source) or "(--data required)"
        print(f"  {name:24s} base={preset_yaml(name).get('base')}  model={values.get('model')}  "
              f"steps={values.get('steps')}  data={data}")
        print(f"  {'':24s} recipe: {recipe_summary(name)}")
    print("\nfamily recipes (what `base: FAMILY` in a training preset, shipped or your own YAML, starts from):")
    for name in families():
        print(f"  {name:24s} {family_of(name).recipe_name}")
    print("\nmodel presets (architectures, for `sahit.build(NAME)` and a training preset's `model:`):")
    for name, preset in sorted(presets().items()):
        print(f"  {name:24s} {preset.description}")
    print("\nearlier names, still accepted: " + ", ".join(
        [f"--preset {old} = {new}" for old, new in sorted(LEGACY_PRESETS.items())]
        + [f"model {old} = {new}" for old, new in sorted(model_aliases().items())]))
    return 0
