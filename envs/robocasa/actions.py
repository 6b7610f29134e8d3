"""The 12-D RoboCasa env action: unified order <-> robosuite's native PandaOmron order.

Unified order (the released dataset's): eef position 0-3, eef rotation 3-6,
gripper 6, base motion 7-11 (base x, y, yaw, torso), control mode 11.
robosuite 1.5 HybridMobileBase order: arm 0-6, torso 6, base 7-10, gripper 10, mode 11.
"""

from __future__ import annotations

import numpy as np

# robosuite index i takes unified index ROBOSUITE_FROM_UNIFIED[i]
ROBOSUITE_FROM_UNIFIED = np.array([0, 1, 2, 3, 4, 5, 10, 7, 8, 9, 6, 11])
UNIFIED_FROM_ROBOSUITE = np.argsort(ROBOSUITE_FROM_UNIFIED)


def unified_order_to_robosuite(action: np.ndarray) -> np.ndarray:
    """Permute a 12-D action from unified order to robosuite's order."""
    return np.asarray(action)[..., ROBOSUITE_FROM_UNIFIED]


def robosuite_to_unified_order(action: np.ndarray) -> np.ndarray:
    """Permute a 12-D action from robosuite's order to unified order."""
    return np.asarray(action)[..., UNIFIED_FROM_ROBOSUITE]
