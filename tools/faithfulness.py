"""Print docs/faithfulness.md: every preset's recipe and architecture against the papers and official code.

The reference values live in src/sahit/faithfulness.py; the presets' values are resolved as
`sahit train --preset NAME` resolves them. tests/test_faithfulness.py fails if the committed doc
differs from this output.

Run:  python tools/faithfulness.py > docs/faithfulness.md
"""

from sahit.faithfulness import markdown

if __name__ == "__main__":
    print(markdown(), end="")
