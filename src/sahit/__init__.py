"""sahit: attention GANs (SAGAN and HiT) in PyTorch.

>>> import sahit
>>> G = sahit.load("runs/quickstart")      # EMA generator of a finished run
>>> images = G.sample(16, classes=3, seed=0)  # (16, 3, R, R) in [-1, 1]
"""

from ._version import __version__
from .export import load, save_generator
from .models import build

__all__ = ["__version__", "build", "load", "save_generator"]
