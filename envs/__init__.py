"""Simulation environments (no torch): LIBERO, RoboCasa, the embodiment twins."""
