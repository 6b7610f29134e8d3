"""Evaluation harness: plan, executors, runner, store, launchers, CLI."""
