"""jedi-bench: diffusion world models for online model-based RL on Atari100k, under one protocol."""

__version__ = "0.1.0"
