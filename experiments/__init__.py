"""Paper-reproduction experiments (see README.md); run from the repository root as ``python -m experiments.NAME``."""
