"""``h05 train``: Being-H0.5 training and post-training on LeRobot-format data (docs/training.md)."""
