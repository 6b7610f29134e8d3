"""Statistics, tables, matrices and plots from episode stores."""
