"""Training data: LeRobot v3.0 datasets in the unified space, normalisation, deterministic mixing."""
