"""RoboCasa (praxis-robocasa 1.0) kitchen tasks of the Being-H0.5 paper; the env runs in .venv-robocasa."""
