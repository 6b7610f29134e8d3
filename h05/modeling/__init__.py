"""Network modules of Being-H0.5 (vision tower, MoT language model, action heads, MPG, MoF)."""
