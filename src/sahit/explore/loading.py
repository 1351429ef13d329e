"""The model behind ``sahit explore``, resolved by the library's own loaders (no resolution of its own)."""

from __future__ import annotations

import logging

from .model import Explorer, class_names_of

log = logging.getLogger(__name__)


def load_explorer(spec: str, ema: bool = True, discriminator: bool = True) -> Explorer:
    """An :class:`Explorer` for ``spec`` (a run folder, export folder, ``zoo:NAME`` or ``hf:ID``, whatever
    ``sahit.load`` takes). A run folder with a checkpoint also gives D (``load_discriminator``), when D has
    attention and ``discriminator`` is true; its class names come from the run's config when it names the data."""
    from ..export import discriminator_has_attention, load, load_discriminator

    G = load(spec, ema=ema)
    D = None
    if discriminator and discriminator_has_attention(G.config):
        try:
            D = load_discriminator(spec)
        except (FileNotFoundError, ValueError) as exc:  # an export folder, a hub model, a run without checkpoints
            log.info("no discriminator: %s", exc)
    return Explorer(G, D, class_names_of(spec, G.num_classes), source=str(spec))
