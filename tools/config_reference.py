"""Print docs/configuration.md: every section of the training config, its keys, flat names and defaults.

tests/training/test_config_sections.py fails if the committed doc differs from this output.

Run:  python tools/config_reference.py > docs/configuration.md
"""

from sahit.training.config.reference import markdown

if __name__ == "__main__":
    print(markdown(), end="")
