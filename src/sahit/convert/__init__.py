"""Bringing models trained elsewhere into sahit: ``convert_studiogan`` (PyTorch-StudioGAN's SAGAN)."""

from .studiogan import convert_studiogan

__all__ = ["convert_studiogan"]
