"""Every repository file the README and docs/ cite exists in the repository.

A path in backticks whose first folder is one of the repository's (``experiments/results/x.json``,
``src/sahit/runs.py``) and every relative Markdown link must exist. Allowed without existing: folders git
ignores, named as where outputs go (``experiments/runs/``, ``benchmarks/results/``), paths with a placeholder
in capitals (``docs/zoo/NAME.png``), and the outputs and foreign files named in :data:`NOT_IN_THIS_REPOSITORY`.
A file inside an ignored folder is not allowed: a doc that cites a run's file as evidence cites what a clone
does not have (as ``experiments/runs/hit_ingredients/probes.json`` once was).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP_FILES = {"pyproject.toml", "CHANGELOG.md", "hubconf.py", "README.md"}
PLACEHOLDER = re.compile(r"(^|[/_.-])[A-Z][A-Z0-9_]+([/_.-]|$)")  # NAME, DATA, CIFAR10_TRAIN_DIR
CODE = re.compile(r"`([^`\s]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
NOT_IN_THIS_REPOSITORY = {
    "src/main.py": "StudioGAN's entry point (docs/race.md compares with that repository)",
    "experiments/results/attention_effect.json": "what experiments/attention_effect.py writes; the doc gives the "
                                                 "command, no figure or table cites it",
    "benchmarks/results/explore_latency.json": "the raw record benchmarks/explore_latency.py writes (its table "
                                               "is in docs/explore.md)",
    "benchmarks/results/hit_scaling.json": "what benchmarks/hit_scaling.py writes (its table is in docs/hit.md)",
}


def _top_folders() -> set[str]:
    """The repository's top folders: tracked ones only, so a checkout's own ``runs/`` is not one of them."""
    proc = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:  # not a git checkout (an unpacked archive): every folder there is the repository's
        return {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return {line.split("/", 1)[0] for line in proc.stdout.splitlines() if "/" in line}


def cited_paths(text: str, top_folders: set[str]) -> list[tuple[int, str]]:
    """(line, path) of every repository path in backticks in ``text`` (``:line`` and ``#anchor`` cut off)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in CODE.finditer(line):
            path = match.group(1).rstrip(".,;)").split("#")[0]
            path = re.sub(r":\d+(-\d+)?$", "", path)
            if any(ch in path for ch in "*{}<>$~=") or path.startswith(("/", "../", "http")):
                continue
            if ("/" in path and path.split("/")[0] in top_folders) or path in TOP_FILES:
                found.append((number, path))
    return found


def _ignored(paths: list[str]) -> set[str]:
    if not paths:
        return set()
    proc = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    if proc.returncode not in (0, 1):
        pytest.skip(f"git check-ignore failed: {proc.stderr.strip()}")
    return set(proc.stdout.split())


def test_cited_paths_are_found_in_the_forms_docs_use():
    text = ("`src/sahit/runs.py` `docs/zoo.md:12` `experiments/results/x.json`, `runs/NAME` `$OUT/a.json`\n"
            "`python -m sahit` `benchmarks/results/`")
    assert cited_paths(text, {"src", "docs", "experiments", "benchmarks"}) == [
        (1, "src/sahit/runs.py"), (1, "docs/zoo.md"), (1, "experiments/results/x.json"), (2, "benchmarks/results/")]
    assert PLACEHOLDER.search("docs/zoo/NAME.png") and not PLACEHOLDER.search("docs/hit32-final.png")


def absent_citations(text: str, top_folders: set[str]) -> list[tuple[int, str]]:
    """(line, path) of the paths cited in ``text`` that are not in the repository and not allowed to be absent."""
    absent = [(n, p) for n, p in cited_paths(text, top_folders) if not (ROOT / p).exists()
              and p not in NOT_IN_THIS_REPOSITORY and not PLACEHOLDER.search(p)]
    ignored = _ignored([p for _, p in absent if p.endswith("/")])
    return [(n, p) for n, p in absent if p not in ignored]


def test_a_run_file_cited_as_evidence_is_caught_and_an_output_folder_is_not():
    text = "from the run folder's `experiments/runs/hit_ingredients/probes.json`\nwritten to `experiments/runs/`"
    assert absent_citations(text, {"experiments"}) == [(1, "experiments/runs/hit_ingredients/probes.json")]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_file_a_doc_cites_exists(doc):
    text = doc.read_text()
    missing = [f"{doc.name}:{n}: {p}" for n, p in absent_citations(text, _top_folders())]
    for number, line in enumerate(text.splitlines(), 1):
        for match in LINK.finditer(line):
            target = match.group(1).split("#")[0]
            if target and not target.startswith(("http://", "https://", "mailto:")) and not (doc.parent / target).exists():
                missing.append(f"{doc.name}:{number}: link {target}")
    assert not missing, "cited but not in the repository: " + "; ".join(missing)
