"""The race against PyTorch-StudioGAN: one script per arm (see benchmarks/race_studiogan.py)."""
