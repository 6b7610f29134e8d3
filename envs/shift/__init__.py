"""Sensory shift as gymnasium wrappers: scene edits in MuJoCo and image transforms.

Kinds and severity levels live in ``levels.yaml``; see docs/ablation.md.
"""

from envs.shift.levels import MAX_SEVERITY, SHIFT_KINDS, ShiftError, check_shift, check_shift_applied, shift_options
from envs.shift.wrapper import SensoryShift

__all__ = ["MAX_SEVERITY", "SHIFT_KINDS", "SensoryShift", "ShiftError", "check_shift", "check_shift_applied", "shift_options"]
