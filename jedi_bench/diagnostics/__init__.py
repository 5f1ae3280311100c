"""Diagnostics on the built-in Catch env: the exact-rules world model (``catch-oracle``), measures of a
learned model's fidelity, and the learning check's table. Nothing in the core imports them."""
