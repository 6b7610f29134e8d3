"""Scripted experts for every feasible twin pair, using privileged object poses.

An expert is a list of stages; each stage turns the current scene into
keyframes (per-arm EEF target and hand command, plus a dwell). The expert
moves each commanded EEF target toward its keyframe at a bounded speed and
advances once every arm's target is reached and the real EEF has followed
(or a timeout passes). Output: unified float32[200] actions for ``TwinEnv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from envs.twins.env import TwinEnv
from envs.twins.robot import R_DOWN, mat_to_rotvec
from envs.twins.tasks import SceneView
from envs.unified_space import slot_group

OPEN, CLOSED = 0.0, 1.0  # hand closure commands
RELEASE = -1.0  # back each finger off from where it stopped on the object, without opening wide
APPROACH = -2.0  # open only as wide as the hand's ``approach_closure`` (a jaw opened fully hits neighbours)


@dataclass
class Keyframe:
    targets: dict[str, tuple[np.ndarray, float]]  # side -> (table-frame position, closure OPEN..CLOSED)
    dwell: int = 0  # extra control steps to wait once reached


Stage = Callable[[SceneView], list[Keyframe]]


def _pick(side: str, obj: str, hover: float, grip_dwell: int = 6) -> Stage:
    """Top-down approach over ``obj`` (hand open), close the hand on it, lift it by ``hover``.

    The grasp height keeps the open fingertips ``0.1 * size`` above the object's base, so the
    fingers pinch its sides instead of scraping the table and scooping it up tilted."""

    def stage(v: SceneView) -> list[Keyframe]:
        p = v.pos[obj].copy()
        reach = v.eef[side][2] - v.hand_low[side]  # how far the open hand reaches below its EEF
        p[2] = min(max(p[2], p[2] - v.s / 2 + reach + 0.1 * v.s), p[2] + 0.35 * v.s)
        up = np.array([0, 0, hover])
        return [
            Keyframe({side: (p + up, APPROACH)}),
            Keyframe({side: (p, APPROACH)}, dwell=2),
            Keyframe({side: (p, CLOSED)}, dwell=grip_dwell),
            Keyframe({side: (p + up, CLOSED)}, dwell=2),
        ]

    return stage


def _eef_for(v: SceneView, side: str, obj: str, centre: np.ndarray) -> np.ndarray:
    """EEF position that puts the held ``obj``'s centre at ``centre``, given where it sits in the hand now."""
    return centre + (v.eef[side] - v.pos[obj])


def _carry(side: str, obj: str, place: Callable[[SceneView], np.ndarray], hover: float) -> Stage:
    """Carry the held ``obj`` to ``hover`` above its place."""

    def stage(v: SceneView) -> list[Keyframe]:
        return [Keyframe({side: (_eef_for(v, side, obj, place(v)) + np.array([0, 0, hover]), CLOSED)}, dwell=2)]

    return stage


def _release(side: str, obj: str, place: Callable[[SceneView], np.ndarray], hover: float, clearance: float = 0.003,
             grip_dwell: int = 6) -> Stage:
    """Lower the held ``obj`` onto its place, open, and back off upward.

    Planned at the hover point from the object's measured pose in the hand: its centre, not the
    hand's, lands on the target, and where fingertips reach below the object the release happens
    higher so they never touch the support (the object then drops that last bit)."""

    def stage(v: SceneView) -> list[Keyframe]:
        below = v.pos[obj][2] - v.s / 2 - v.hand_low[side]  # fingertips under the object's base
        q = place(v) + np.array([0, 0, max(clearance, below + 0.003)])
        target = _eef_for(v, side, obj, q)
        up = np.array([0, 0, hover])
        return [
            Keyframe({side: (target, CLOSED)}, dwell=3),
            Keyframe({side: (target, RELEASE)}, dwell=grip_dwell),  # fingers let go, still curled
            Keyframe({side: (target + up, RELEASE)}),  # so opening cannot sweep the object or hit the table
            Keyframe({side: (target + up, OPEN)}),
        ]

    return stage


def _pick_place(side: str, obj: str, place: Callable[[SceneView], np.ndarray], hover: float, clearance: float = 0.003) -> list[Stage]:
    return [_pick(side, obj, hover), _carry(side, obj, place, hover), _release(side, obj, place, hover, clearance)]


def _on(target: str) -> Callable[[SceneView], np.ndarray]:
    """Centre of an object resting on the table over ``target`` (a pad)."""

    def fn(v: SceneView) -> np.ndarray:
        p = v.pos[target].copy()
        p[2] = v.s / 2
        return p

    return fn


def _on_top(target: str) -> Callable[[SceneView], np.ndarray]:
    """Centre of a cube resting on top of the cube ``target``, wherever that one now stands."""

    def fn(v: SceneView) -> np.ndarray:
        p = v.pos[target].copy()
        p[2] += v.s
        return p

    return fn


def _pad_slot(pad: str, obj: str, others: tuple[str, ...], half_len: float) -> Callable[[SceneView], np.ndarray]:
    """A free slot along a long pad (its y axis) for ``obj``: one slot per object, ``half_len`` sizes
    apart at most, taking the one farthest from the other objects, so a hand wider than a cube
    (fingers span about +-1.1 sizes in y) never lands on a neighbour."""

    def fn(v: SceneView) -> np.ndarray:
        base = v.pos[pad].copy()
        base[2] = v.s / 2
        cands = [base + np.array([0.0, dy * v.s, 0.0]) for dy in np.linspace(-half_len, half_len, len(others))]
        others_xy = [v.pos[o][:2] for o in others if o != obj]

        def clearance(c: np.ndarray) -> float:
            return min((np.linalg.norm(c[:2] - q) for q in others_xy), default=np.inf)

        return max(cands, key=lambda c: (round(clearance(c) / v.s, 1), -abs(c[1] - base[1])))

    return fn


def _left_of(ref: str) -> Callable[[SceneView], np.ndarray]:
    def fn(v: SceneView) -> np.ndarray:
        p = v.pos[ref].copy()
        p[1] += 2.4 * v.s
        p[2] = v.s / 2
        return p

    return fn


def _handover(v: SceneView) -> list[Keyframe]:
    s, hover = v.s, v.spec.carry_height
    bar, pad = v.pos["bar"].copy(), v.pos["green_pad"].copy()
    grip = 1.3 * s
    r0 = bar + np.array([0, -grip, 0])
    mid = np.array([bar[0], 0.0, hover + s / 2])
    r_mid, l_mid = mid + np.array([0, -grip, 0]), mid + np.array([0, grip, 0])
    above = np.array([0, 0, 0.6 * hover])
    drop = np.array([pad[0], pad[1] + grip, s / 2 + 0.003])
    r_ready = np.array([bar[0], v.spec.workspace_center[1], hover + s])
    return [
        Keyframe({"right": (r0 + [0, 0, hover], OPEN)}),
        Keyframe({"right": (r0, OPEN)}, dwell=2),
        Keyframe({"right": (r0, CLOSED)}, dwell=6),
        Keyframe({"right": (r0 + [0, 0, hover], CLOSED)}),
        Keyframe({"right": (r_mid, CLOSED), "left": (l_mid + above, OPEN)}),
        Keyframe({"left": (l_mid, OPEN)}, dwell=2),
        Keyframe({"left": (l_mid, CLOSED)}, dwell=6),
        Keyframe({"right": (r_mid, OPEN)}, dwell=6),
        Keyframe({"right": (r_mid + above, OPEN)}),
        Keyframe({"right": (r_ready, OPEN), "left": (drop + [0, 0, hover], CLOSED)}),
        Keyframe({"left": (drop, CLOSED)}, dwell=2),
        Keyframe({"left": (drop, OPEN)}, dwell=6),
        Keyframe({"left": (drop + [0, 0, hover], OPEN)}),
    ]


def _lift_tray(v: SceneView) -> list[Keyframe]:
    s, hover = v.s, v.spec.carry_height
    tray = v.pos["tray"]
    rot = v.rot["tray"]
    handles = {}
    for side, sign in (("right", -1.0), ("left", 1.0)):
        local = np.array([0.0, sign * (abs(v.spec.workspace_center[1]) + 0.4 * s), s / 2 + 0.006])
        handles[side] = tray + rot @ local
    up = np.array([0, 0, hover])
    lift = np.array([0, 0, 0.12])
    return [
        Keyframe({k: (h + up, OPEN) for k, h in handles.items()}),
        Keyframe({k: (h, OPEN) for k, h in handles.items()}, dwell=2),
        Keyframe({k: (h, CLOSED) for k, h in handles.items()}, dwell=6),
        Keyframe({k: (h + lift, CLOSED) for k, h in handles.items()}, dwell=20),
    ]


def expert_stages(task: str, hover: float) -> list[Stage]:
    """The stages of the scripted expert for ``task`` (single-arm tasks use the right arm)."""
    r = "right"
    cubes3 = ("red_cube", "blue_cube", "green_cube")
    table: dict[str, list[Stage]] = {
        "place_on_pad": _pick_place(r, "red_cube", _on("green_pad"), hover),
        "stack_blocks": _pick_place(r, "red_cube", _on_top("blue_cube"), hover, clearance=0.005),
        "place_left_of": _pick_place(r, "red_cube", _left_of("blue_cube"), hover),
        "sort_cubes": _pick_place(r, "red_cube", _on("red_pad"), hover) + _pick_place(r, "blue_cube", _on("blue_pad"), hover),
        "stack_three": _pick_place(r, "blue_cube", _on_top("green_cube"), hover, clearance=0.005)
        + _pick_place(r, "red_cube", _on_top("blue_cube"), hover, clearance=0.005),
        "clear_table": [
            stage for c in cubes3 for stage in _pick_place(r, c, _pad_slot("yellow_pad", c, cubes3, 2.0), hover)
        ],
        "handover": [_handover],
        "lift_tray": [_lift_tray],
        "novel_colour": _pick_place(r, "purple_cube", _on("green_pad"), hover),
        "novel_shape": _pick_place(r, "cylinder", _on("green_pad"), hover),
    }
    if task not in table:
        raise KeyError(f"no scripted expert for twin task {task!r}; known: {', '.join(table)}")
    return table[task]


@dataclass
class ScriptedExpert:
    """Privileged-state expert bound to one ``TwinEnv`` episode; call ``reset`` after ``env.reset``."""

    env: TwinEnv
    speed_scale: float = 2.5  # EEF speed = speed_scale * carry_height per second
    timeout_s: float = 1.5
    _stages: list[Stage] = field(default_factory=list)
    _frames: list[Keyframe] = field(default_factory=list)
    _cmd: dict[str, np.ndarray] = field(default_factory=dict)
    open_time_s: float = 0.4  # hands open over this long (closing is immediate): a slow release lets
    # the object settle on its support instead of being dragged along by the opening fingers
    release_backoff: float = 0.3  # RELEASE: closure given up per actuator, from where it stopped
    _grip: dict[str, np.ndarray] = field(default_factory=dict)  # per flexing actuator, 0 open .. 1 closed
    _release: dict[str, np.ndarray] = field(default_factory=dict)
    settle_s: float = 0.25  # an arm that stopped short of its target this long counts as arrived
    _wait: int = 0
    _stuck: int = 0
    _still: int = 0
    _last: dict[str, np.ndarray] = field(default_factory=dict)

    def reset(self) -> None:
        spec = self.env.espec
        self._stages = expert_stages(self.env.twin.name, spec.carry_height)
        self._frames = []
        self._cmd = {side: self.env.robot.eef_pose(self.env.data, side)[0].copy() for side in spec.arms}
        self._grip = {side: np.zeros_like(self._measured_closure(side)) for side in spec.arms}
        self._release = {}
        self._wait = self._stuck = self._still = 0
        self._last = {}

    @property
    def done(self) -> bool:
        return not self._stages and not self._frames

    def _next_frame(self) -> Keyframe | None:
        while not self._frames and self._stages:
            self._frames = list(self._stages.pop(0)(self.env.scene_view()))
        return self._frames[0] if self._frames else None

    def act(self) -> np.ndarray:
        env, spec = self.env, self.env.espec
        step_len = self.speed_scale * spec.carry_height / spec.control_hz
        frame = self._next_frame()
        if frame is not None:
            reached, arrived, settled = True, True, True
            for side, (pos, grip) in frame.targets.items():
                if grip == APPROACH:
                    hand = spec.hands[spec.arms[side].hand]
                    want = np.full_like(self._grip[side], float(hand.params.get("approach_closure", 0.0)))
                elif grip == RELEASE:
                    if side not in self._release:
                        self._release[side] = np.clip(self._measured_closure(side) - self.release_backoff, 0.0, 1.0)
                    want = self._release[side]
                else:
                    want = np.full_like(self._grip[side], grip)
                if grip != RELEASE:
                    self._release.pop(side, None)
                g = self._grip[side]
                opening = want < g
                # opening starts from where the fingers stopped on the object, then ramps
                start = np.where(opening, np.minimum(g, self._measured_closure(side) + 0.1), g)
                ramp = np.maximum(want, start - 1.0 / (self.open_time_s * spec.control_hz))
                self._grip[side] = np.where(opening, ramp, want)
                if not np.allclose(self._grip[side], want):
                    reached = arrived = False
                delta = pos - self._cmd[side]
                dist = np.linalg.norm(delta)
                self._cmd[side] = pos.copy() if dist <= step_len else self._cmd[side] + delta * (step_len / dist)
                actual = env.robot.eef_pose(env.data, side)[0].copy()
                if dist > step_len:
                    arrived = False
                if dist > step_len or np.linalg.norm(actual - pos) > 0.15 * spec.object_size:
                    reached = False
                last = self._last.get(side)
                if last is None or np.linalg.norm(actual - last) > 0.01 * spec.object_size:
                    settled = False
                self._last[side] = actual
            # the command has arrived but the arm stopped short of it (reach limit, contact): go on
            self._still = self._still + 1 if (arrived and settled and not reached) else 0
            if self._still >= max(3, int(self.settle_s * spec.control_hz)):
                reached = True
            if reached:
                if self._wait >= frame.dwell:
                    self._frames.pop(0)
                    self._wait = self._stuck = self._still = 0
                else:
                    self._wait += 1
            else:
                self._stuck += 1
                if self._stuck > self.timeout_s * spec.control_hz and arrived:
                    self._frames.pop(0)  # the arm cannot get closer: go on
                    self._stuck = self._wait = self._still = 0
        return self._action()

    def _measured_closure(self, side: str) -> np.ndarray:
        """How far each flexing hand actuator is closed now (0 open .. 1 closed); jaw: one value."""
        env = self.env
        state = env.robot.hand_state(env.data, side)
        if env.robot.arms[side].hand_kind == "jaw":
            return 1.0 - state
        return np.asarray(state[1:], float)  # thumb yaw (index 0) stays opposed

    def _action(self) -> np.ndarray:
        env = self.env
        out = env.hold_action()
        rv = mat_to_rotvec(R_DOWN)
        for side, h in env.robot.arms.items():
            out[slot_group(f"{side}_eef_pos").slice] = self._cmd[side]
            out[slot_group(f"{side}_eef_rot").slice] = rv
            c = self._grip[side]
            if h.hand_kind == "jaw":
                out[slot_group(f"{side}_gripper").slice] = 1.0 - c
            else:
                out[slot_group(f"{side}_hand").slice] = np.concatenate([[1.0], c])
        return out


def run_expert_episode(env: TwinEnv, init_index: int, seed: int = 0, on_step=None) -> dict:
    """Run the expert for one episode; return success, steps and the final state digest."""
    obs, info = env.reset(seed=seed, options={"init_index": init_index})
    expert = ScriptedExpert(env)
    expert.reset()
    steps, success, truncated = 0, False, False
    while True:
        action = expert.act()
        if on_step is not None:
            on_step(obs, action)  # the observation and the action taken from it
        obs, _, success, truncated, info = env.step(action)
        steps += 1
        if success or truncated:
            break
    return {"success": bool(success), "steps": steps, "state": obs["state"]}
