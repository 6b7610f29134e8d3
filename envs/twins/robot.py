"""A compiled twin's control interface: EEF control through IK, hands, head, waist.

``TwinRobot`` owns the name -> index bookkeeping of one compiled model and
converts between native commands and actuator targets. End-effector targets
(position in the table frame, rotation as axis-angle, both absolute) become arm
joint targets through damped least squares on a scratch ``MjData``.

Table frame: origin on the table top below the robot base (world x, y, and
z - table_height); x forward, y left, z up.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from envs.twins.embodiments import EmbodimentSpec

# Top-down grasp orientation: hand z (palm -> fingertips) points down, hand x (thumb -> fingers) forward.
R_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])


def rotvec_to_mat(rv: np.ndarray) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_axisAngle2Quat(quat, np.asarray(rv, float) / max(np.linalg.norm(rv), 1e-12), float(np.linalg.norm(rv)))
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, quat)
    return mat.reshape(3, 3)


def mat_to_rotvec(mat: np.ndarray) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(mat, float).reshape(9))
    if quat[0] < 0:
        quat = -quat
    vel = np.zeros(3)
    mujoco.mju_quat2Vel(vel, quat, 1.0)
    return vel


def rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """World-frame axis-angle taking ``current`` to ``target``."""
    return mat_to_rotvec(target @ current.T)


@dataclass
class ArmHandles:
    side: str
    qpos: np.ndarray  # qpos addresses of the arm joints
    dof: np.ndarray  # dof addresses
    act: np.ndarray  # actuator ids of the arm joints
    lo: np.ndarray
    hi: np.ndarray
    site: int
    hand_kind: str
    hand_act: np.ndarray  # hand actuator ids (6 or 1)
    hand_open: np.ndarray  # actuator targets, open
    hand_closed: np.ndarray  # actuator targets, closed


class TwinRobot:
    """Bookkeeping and control of one compiled twin."""

    ik_iterations = 6
    ik_damping = 0.05
    ik_max_step = 0.15  # rad per iteration
    posture_gain = 0.05  # null-space pull toward the home posture, per iteration

    def __init__(self, spec: EmbodimentSpec, model: mujoco.MjModel) -> None:
        self.spec = spec
        self.model = model
        self.scratch = mujoco.MjData(model)
        self.table_origin = np.array([0.0, 0.0, spec.table_height])
        self.arms: dict[str, ArmHandles] = {}
        for side, arm in spec.arms.items():
            jids = [model.joint(j.name).id for j in arm.joints]
            acts = [model.actuator(j.name).id for j in arm.joints]
            hand = spec.hands[arm.hand]
            if hand.kind == "jaw":
                hact = [model.actuator(f"{side}_gripper").id]
                lo, hi = model.actuator_ctrlrange[hact[0]]
                hopen, hclosed = np.array([hi]), np.array([lo])
            else:
                names = ["thumb_yaw", "thumb_pitch", "index_proximal", "middle_proximal", "ring_proximal", "pinky_proximal"]
                hact = [model.actuator(f"{side}_{n}").id for n in names]
                rng = model.actuator_ctrlrange[hact]
                hopen, hclosed = rng[:, 0].copy(), rng[:, 1].copy()
                hopen[0], hclosed[0] = rng[0, 1], rng[0, 0]  # thumb yaw: 0 rad is opposed (closed)
            self.arms[side] = ArmHandles(
                side=side,
                qpos=np.array([model.jnt_qposadr[j] for j in jids]),
                dof=np.array([model.jnt_dofadr[j] for j in jids]),
                act=np.array(acts),
                lo=model.jnt_range[jids, 0].copy(),
                hi=model.jnt_range[jids, 1].copy(),
                site=model.site(f"{side}_eef").id,
                hand_kind=hand.kind,
                hand_act=np.array(hact),
                hand_open=hopen,
                hand_closed=hclosed,
            )
        self.head_act = np.array([model.actuator(j.name).id for j in spec.head.joints]) if spec.head else np.zeros(0, int)
        self.waist_act = np.array([model.actuator(j.name).id for j in spec.waist.joints]) if spec.waist else np.zeros(0, int)
        self.head_qpos = np.array([model.jnt_qposadr[model.joint(j.name).id] for j in spec.head.joints]) if spec.head else np.zeros(0, int)
        self.waist_qpos = np.array([model.jnt_qposadr[model.joint(j.name).id] for j in spec.waist.joints]) if spec.waist else np.zeros(0, int)
        self._home_cache: dict[str, np.ndarray] | None = None

    # -- poses -------------------------------------------------------------
    def eef_pose(self, data: mujoco.MjData, side: str) -> tuple[np.ndarray, np.ndarray]:
        """EEF position (table frame) and rotation matrix (world) of arm ``side``."""
        s = self.arms[side].site
        return data.site_xpos[s] - self.table_origin, data.site_xmat[s].reshape(3, 3).copy()

    def ready_pose(self, side: str) -> np.ndarray:
        """Where the arm waits: above its workspace centre, at carry height, in the table frame."""
        if side == "left":
            cx, cy = self.spec.workspace_center
            return np.array([cx, -cy, self.spec.carry_height + self.spec.object_size])
        cx, cy = self.spec.workspace_center
        return np.array([cx, cy, self.spec.carry_height + self.spec.object_size])

    # -- inverse kinematics ----------------------------------------------
    def solve_ik(
        self, data: mujoco.MjData, side: str, q_start: np.ndarray, pos: np.ndarray, rot: np.ndarray, iterations: int | None = None,
        posture: np.ndarray | None = None,
    ) -> np.ndarray:
        """Arm joint positions moving the EEF toward (pos [table frame], rot [world matrix]).

        With ``posture``, redundant motion (the null space of the task Jacobian) drifts toward it,
        so a long sequence of targets keeps the arm near one elbow branch instead of wandering off
        into a folded configuration that no longer reaches the workspace."""
        h = self.arms[side]
        sd = self.scratch
        sd.qpos[:] = data.qpos
        q = np.clip(np.asarray(q_start, float).copy(), h.lo, h.hi)
        target = np.asarray(pos, float) + self.table_origin
        jacp = np.zeros((3, self.model.nv))
        jacr = np.zeros((3, self.model.nv))
        for _ in range(iterations or self.ik_iterations):
            sd.qpos[h.qpos] = q
            mujoco.mj_kinematics(self.model, sd)
            mujoco.mj_comPos(self.model, sd)
            err = np.concatenate([target - sd.site_xpos[h.site], 0.3 * rotation_error(rot, sd.site_xmat[h.site].reshape(3, 3))])
            if np.linalg.norm(err[:3]) < 2e-4 and np.linalg.norm(err[3:]) < 1e-3:
                break
            mujoco.mj_jacSite(self.model, sd, jacp, jacr, h.site)
            jac = np.vstack([jacp[:, h.dof], 0.3 * jacr[:, h.dof]])
            lam = self.ik_damping**2
            jpinv = jac.T @ np.linalg.inv(jac @ jac.T + lam * np.eye(6))
            dq = jpinv @ err
            if posture is not None:
                dq += (np.eye(len(q)) - jpinv @ jac) @ (self.posture_gain * (posture - q))
            step = np.max(np.abs(dq))
            if step > self.ik_max_step:
                dq *= self.ik_max_step / step
            q = np.clip(q + dq, h.lo, h.hi)
        return q

    def home(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """Arm joint postures at the ready pose (IK from the table's home seed), computed once."""
        if self._home_cache is None:
            out = {}
            for side, arm in self.spec.arms.items():
                seed = np.deg2rad(arm.home_deg)
                out[side] = self.solve_ik(data, side, seed, self.ready_pose(side), R_DOWN, iterations=300)
            self._home_cache = out
        return self._home_cache

    # -- commands ----------------------------------------------------------
    def hand_targets(self, side: str, closure: np.ndarray) -> np.ndarray:
        """Actuator targets for normalised hand commands (dexterous: 0 open .. 1 closed per actuator;
        jaw: the gripper slot, 0 closed .. 1 open)."""
        h = self.arms[side]
        c = np.clip(np.asarray(closure, float), 0.0, 1.0)
        if h.hand_kind == "jaw":
            return h.hand_closed + c * (h.hand_open - h.hand_closed)
        return h.hand_open + c * (h.hand_closed - h.hand_open)

    def hand_state(self, data: mujoco.MjData, side: str) -> np.ndarray:
        """Measured hand joints in the same normalisation as ``hand_targets``."""
        h = self.arms[side]
        q = data.qpos[self.model.jnt_qposadr[self.model.actuator_trnid[h.hand_act, 0]]]
        if h.hand_kind == "jaw":
            return (q - h.hand_closed) / (h.hand_open - h.hand_closed)
        return (q - h.hand_open) / (h.hand_closed - h.hand_open)
