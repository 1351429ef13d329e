"""Exports on the Hugging Face hub: ``hf:ORG/NAME`` (or ``hf:ORG/NAME@REVISION``) to a local folder.

``huggingface_hub`` is an optional dependency (``pip install sahit[hf]``); it downloads the
snapshot once into its cache (``HF_HUB_CACHE``) and, with ``HF_HUB_OFFLINE=1``, reads the cache
without touching the network.
"""

from __future__ import annotations

from pathlib import Path

PREFIX = "hf:"
# What an export folder holds; anything else in the hub repository is not downloaded.
ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.md"]


def is_hf(path: str | Path) -> bool:
    """True for ``hf:ORG/NAME[@REVISION]`` (a ``Path`` is always local)."""
    return isinstance(path, str) and path.startswith(PREFIX)


def parse_hf(spec: str) -> tuple[str, str | None]:
    """``"hf:ORG/NAME@REV"`` -> ``("ORG/NAME", "REV")``; the revision is None when not given."""
    repo_id, _, revision = spec[len(PREFIX):].partition("@")
    if not repo_id or repo_id.count("/") > 1 or repo_id.startswith("/") or repo_id.endswith("/"):
        raise ValueError(f"{spec!r} is not a hub id: use hf:ORG/NAME or hf:ORG/NAME@REVISION")
    if "@" in spec[len(PREFIX):] and not revision:
        raise ValueError(f"{spec!r} has an empty revision after '@'")
    return repo_id, revision or None


def hf_snapshot(spec: str) -> Path:
    """The local folder of the hub repository ``spec`` (downloaded into the hub cache when not there yet)."""
    repo_id, revision = parse_hf(spec)
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise RuntimeError(f"loading {spec} needs huggingface_hub: pip install sahit[hf]") from None
    from ._version import __version__

    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=ALLOW_PATTERNS,
                                   library_name="sahit", library_version=__version__)
    except (OSError, ValueError) as exc:  # not found, offline without a cached copy, bad id, network down
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileNotFoundError(f"cannot get {spec} from the Hugging Face hub: {first}") from None
    return Path(folder)
