"""The TF-compatible Inception v3 of published FID / IS / KID numbers, via ``torch-fidelity``.

torch-fidelity reproduces the TensorFlow graph bit for bit (uint8 input, TF1 bilinear resize
to 299x299). sahit builds its network without letting it download or unpickle anything, then
loads the weights itself with ``torch.load(..., weights_only=True)``.

Where the weights file is looked for, in order:

1. the ``weights`` argument (``--inception-weights`` on the command line);
2. the ``SAHIT_INCEPTION_WEIGHTS`` environment variable;
3. ``torch.hub.get_dir()/checkpoints/`` under the names used by torch-fidelity
   (``weights-inception-2015-12-05-6726825d.pth``) and pytorch-fid
   (``pt_inception-2015-12-05-6726825d.pth``), the same file;
4. a download to that folder, only with ``allow_download=True``.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .extractor import FeatureExtractor, file_sha256

ENV_VAR = "SAHIT_INCEPTION_WEIGHTS"
WEIGHTS_FILENAMES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")
WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
WEIGHTS_URL_PYTORCH_FID = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
PUBLISHED_SHA256_PREFIX = "6726825d"
FEATURE_DIM = 2048
NUM_CLASSES = 1008  # the 2015 TF graph: 1000 ImageNet classes + 8 unused


def hub_checkpoint_paths() -> list[Path]:
    """The two published file names under ``torch.hub.get_dir()/checkpoints``."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return [folder / name for name in WEIGHTS_FILENAMES]


def resolve_inception_weights(weights: str | Path | None = None, *, allow_download: bool = False) -> Path:
    """Path of the Inception weights file (explicit path, env var, hub cache, then optional download).

    An explicit path or env var that names a missing file is an error, not a fallback.
    Raises ``FileNotFoundError`` naming every place tried and the URL to fetch the file from.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"Inception weights file {str(path)!r} (given explicitly) does not exist")
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"Inception weights file {str(path)!r} (from ${ENV_VAR}) does not exist")
        return path
    candidates = hub_checkpoint_paths()
    for path in candidates:
        if path.is_file():
            return path
    if allow_download:
        target = candidates[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(target), hash_prefix=PUBLISHED_SHA256_PREFIX)
        return target
    tried = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(  # one line: the CLI prints only the first line of an error
        f"Inception v3 FID weights not found (tried: no explicit path given, ${ENV_VAR} not set, {tried}); "
        f"download {WEIGHTS_URL} (or {WEIGHTS_URL_PYTORCH_FID}, the same file) and put it at {candidates[0]} "
        f"or point ${ENV_VAR} at it; sahit downloads it itself only with allow_download=True (--download)"
    )


@functools.cache
def _network_class() -> type[nn.Module]:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _TFInceptionV3(FeatureExtractorInceptionV3):
        """torch-fidelity's network; its constructor's own weight loading is skipped (an empty
        state dict stands in) so that sahit can load the weights with ``weights_only=True``."""

        def load_state_dict(self, state_dict, *args, **kwargs):  # type: ignore[override]
            if not state_dict:  # the constructor's placeholder
                return None
            return super().load_state_dict(state_dict, *args, **kwargs)

    return _TFInceptionV3


def _build_network() -> nn.Module:
    placeholder = io.BytesIO()
    torch.save({}, placeholder)
    placeholder.seek(0)
    return _network_class()(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=placeholder
    )


class InceptionExtractor(FeatureExtractor):
    """2048-d pool3 features and 1008 unbiased logits (no fc bias, as the original IS code)."""

    name = "inception-v3-tf"
    feature_dim = FEATURE_DIM
    num_classes = NUM_CLASSES

    def __init__(self, network: nn.Module, weights_hash: str) -> None:
        super().__init__()
        self.network = network
        self.spec = "inception"
        self.weights_hash = weights_hash

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, logits = self.network(images.to(self.device))  # (B, 2048), (B, 1008)
        return features, logits

    def train(self, mode: bool = True) -> InceptionExtractor:
        return super().train(False)  # BN statistics are part of the published network


def load_inception(
    weights: str | Path | None = None, *, allow_download: bool = False, random_weights: bool = False, seed: int = 0
) -> InceptionExtractor:
    """The FID Inception v3. ``random_weights=True`` skips the file (tests, benchmarks: numbers meaningless)."""
    if random_weights:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = _build_network()
            for module in network.modules():  # He init keeps activations O(1) through the 90-odd ReLU layers
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        return InceptionExtractor(network, weights_hash=f"random-seed{seed}")
    path = resolve_inception_weights(weights, allow_download=allow_download)
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"could not read Inception weights from {str(path)!r}: {err}") from err
    if not isinstance(state_dict, dict) or not state_dict:
        raise ValueError(f"{str(path)!r} does not hold a state dict of Inception v3 weights")
    network = _build_network()
    try:
        network.load_state_dict(state_dict)
    except RuntimeError as err:
        raise ValueError(f"{str(path)!r} does not hold the FID Inception v3 weights: {err}") from err
    digest = file_sha256(path)
    if not digest.startswith(PUBLISHED_SHA256_PREFIX):
        warnings.warn(
            f"{str(path)!r} is not the published FID Inception file (sha256 {digest[:8]}..., expected "
            f"{PUBLISHED_SHA256_PREFIX}...): its numbers are not comparable with published ones",
            stacklevel=2,
        )
    return InceptionExtractor(network, weights_hash=digest)
