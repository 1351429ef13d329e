"""sahit: attention GANs (SAGAN and HiT) in PyTorch."""

__version__ = "0.1.0"
