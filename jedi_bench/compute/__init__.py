"""Compute measurement: the profile of one method's updates and sampling (``profile``), timing, FLOPs and
memory, and the projection of a run's hours from them."""
