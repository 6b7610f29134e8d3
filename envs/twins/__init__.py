"""Simulated twins of the five Being-H0.5 real embodiments: models, tasks, experts."""
