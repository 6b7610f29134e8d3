"""LeRobot v3.0 datasets read with pyarrow + PyAV, mapped into the unified 200-D space.

A dataset folder holds ``meta/info.json`` (codebase_version ``v3.0``, fps,
features, path templates), ``meta/stats.json``, ``meta/tasks.parquet``,
``meta/episodes/chunk-*/file-*.parquet``, ``data/chunk-*/file-*.parquet``
(``observation.state`` / ``action`` fixed-size float lists, ``episode_index``,
``frame_index``, ``timestamp``, ``task_index``) and one mp4 per camera and
file under ``videos/<key>/chunk-*/file-*.mp4`` (episodes back to back; a
frame is found at ``from_timestamp + timestamp``).

State/action are either already unified (200 wide, as the twins recorder
writes them) or native vectors of the embodiment's mapping
(``envs.unified_space``), mapped here. Everything is checked before training
starts (``DatasetError`` names the dataset and the problem): the
codebase version, the feature shapes against the embodiment mapping, the
statistics file, NaN/inf in state or action, the video files and frame counts.

Videos are decoded once, resized to the model's image size with the same
antialiased bilinear resize ``H05Policy`` uses, and kept in memory as uint8.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from envs.unified_space import UNIFIED_DIM, UnifiedSpaceError, embodiment as mapping_of

STATE_KEY, ACTION_KEY = "observation.state", "action"
IMAGE_PREFIX = "observation.images."
STAT_KEYS = ("min", "max", "mean", "std", "q01", "q99")


class DatasetError(ValueError):
    """A dataset cannot be trained on as configured (message names the dataset and the problem)."""


@dataclass
class LeRobotDataset:
    """One LeRobot v3.0 dataset in memory, in the unified space.

    ``state``/``action`` [N, 200] float32 (unmapped slots 0), ``episode`` [N],
    ``episode_end`` [N] (exclusive row index of the row's episode end),
    ``instruction`` per row index into ``tasks``, ``images`` camera -> uint8
    [N, S, S, 3] (None until ``load_images``), ``stats`` side -> stat -> [200].
    """

    root: Path
    name: str
    embodiment: str
    fps: float
    cameras: list[str]
    tasks: list[str]
    state: np.ndarray
    action: np.ndarray
    episode: np.ndarray
    episode_end: np.ndarray
    task_index: np.ndarray
    stats: dict[str, dict[str, np.ndarray]]
    state_mask: np.ndarray
    action_mask: np.ndarray
    video_frames: dict[str, np.ndarray] = field(default_factory=dict)  # camera -> frame index in its file per row
    video_files: dict[str, np.ndarray] = field(default_factory=dict)   # camera -> (chunk, file) id per row
    images: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.action)

    def load_images(self, size: int, device: str = "cpu") -> None:
        """Decode every camera's videos once, resized to ``size``x``size`` on ``device`` (uint8 in memory)."""
        out = {}
        for cam in self.cameras:
            frames = np.zeros((len(self), size, size, 3), np.uint8)
            files = self.video_files[cam]
            for fid in np.unique(files, axis=0):
                rows = np.flatnonzero((files == fid).all(axis=1))
                path = self.root / _video_path(self.info_video_template, IMAGE_PREFIX + cam, int(fid[0]), int(fid[1]))
                decoded = decode_video(path, size, device)
                idx = self.video_frames[cam][rows]
                if idx.max(initial=-1) >= len(decoded):
                    raise DatasetError(f"{self.root}: video {path} has {len(decoded)} frames but episodes reference "
                                       f"frame {int(idx.max())}")
                frames[rows] = decoded[idx]
            out[cam] = frames
        self.images = out

    info_video_template: str = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"


def _video_path(template: str, key: str, chunk: int, file: int) -> str:
    return template.format(video_key=key, chunk_index=chunk, file_index=file)


def resize_frames(frames: np.ndarray, size: int, device: str = "cpu") -> np.ndarray:
    """uint8 [T, H, W, 3] -> uint8 [T, size, size, 3], antialiased bilinear like ``H05Policy``."""
    import torch
    import torch.nn.functional as F

    if frames.shape[1:3] == (size, size):
        return frames
    out = []
    for start in range(0, len(frames), 256):
        x = torch.from_numpy(frames[start:start + 256]).to(device).permute(0, 3, 1, 2).float() / 255.0
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append((x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), np.uint8)


def decode_video(path: Path, size: int, device: str = "cpu") -> np.ndarray:
    """All frames of an mp4 (any codec PyAV reads) as uint8 [T, size, size, 3]."""
    import av

    if not path.is_file():
        raise DatasetError(f"video file {path} is missing")
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
    if not frames:
        raise DatasetError(f"video file {path} has no frames")
    return resize_frames(np.stack(frames), size, device)


def _read_parquets(folder: Path) -> "object":
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(folder.glob("chunk-*/file-*.parquet"))
    if not files:
        raise DatasetError(f"no parquet files under {folder}")
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def _column(table, key: str, root: Path) -> np.ndarray:
    if key not in table.column_names:
        raise DatasetError(f"{root}: data has no column {key!r}; columns: {table.column_names}")
    col = table.column(key).combine_chunks()
    if hasattr(col, "flatten") and str(col.type).startswith(("fixed_size_list", "list")):
        width = col.type.list_size if hasattr(col.type, "list_size") else None
        flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        width = width or (len(flat) // max(len(col), 1))
        return flat.reshape(len(col), width)
    return col.to_numpy(zero_copy_only=False)


def _to_unified(mapping, side: str, x: np.ndarray, root: Path, key: str) -> np.ndarray:
    width = x.shape[-1]
    if width == UNIFIED_DIM:
        outside = np.abs(x[:, ~mapping.mask(side)]).max(initial=0.0) if len(x) else 0.0
        if outside > 0:
            bad = np.flatnonzero(np.abs(x[:, ~mapping.mask(side)]).max(axis=0) > 0)
            slots = np.flatnonzero(~mapping.mask(side))[bad]
            raise DatasetError(f"{root}: {key} is 200-D but has values in slots {slots[:12].tolist()} that "
                               f"embodiment {mapping.name!r} does not map ({side} mapping: {dict(getattr(mapping, side))}); "
                               "wrong embodiment for this dataset?")
        return x.astype(np.float32)
    native = mapping.native_dim(side)
    if width != native:
        raise DatasetError(f"{root}: {key} has {width} features; embodiment {mapping.name!r} maps {native} native "
                           f"{side} features ({dict(getattr(mapping, side))}) or 200 unified ones")
    try:
        return np.stack([mapping.to_unified(side, row) for row in x]).astype(np.float32) if len(x) else \
            np.zeros((0, UNIFIED_DIM), np.float32)
    except UnifiedSpaceError as exc:
        raise DatasetError(f"{root}: {key}: {exc}") from None


def _stats_to_unified(mapping, side: str, stats: dict, root: Path, key: str) -> dict[str, np.ndarray]:
    out = {}
    for name in STAT_KEYS:
        if name not in stats:
            if name in ("q01", "q99") and "min" in stats and "max" in stats:
                stats[name] = stats["min" if name == "q01" else "max"]
            else:
                raise DatasetError(f"{root}: meta/stats.json[{key!r}] lacks {name!r}; has {sorted(stats)}")
        v = np.asarray(stats[name], np.float32).reshape(-1)
        if v.shape[0] == UNIFIED_DIM:
            out[name] = v
        elif v.shape[0] == mapping.native_dim(side):
            full = mapping.to_unified(side, v)
            if name == "std":
                full = np.where(mapping.mask(side), full, 0.0)
            out[name] = full.astype(np.float32)
        else:
            raise DatasetError(f"{root}: meta/stats.json[{key!r}][{name!r}] has {v.shape[0]} values; expected "
                               f"{UNIFIED_DIM} or {mapping.native_dim(side)}")
        if not np.all(np.isfinite(out[name])):
            raise DatasetError(f"{root}: meta/stats.json[{key!r}][{name!r}] holds NaN or inf")
    return out


def open_dataset(root: str | Path, embodiment: str | None = None, name: str | None = None,
                 cameras: Sequence[str] | None = None) -> LeRobotDataset:
    """Read and check a LeRobot v3.0 dataset (numbers only; images come with ``load_images``)."""
    import pyarrow.parquet as pq

    root = Path(root)
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise DatasetError(f"{root} is not a LeRobot dataset: no meta/info.json")
    info = json.loads(info_path.read_text())
    version = str(info.get("codebase_version", "?"))
    if not version.startswith("v3"):
        raise DatasetError(f"{root}: codebase_version {version!r}; this reader takes LeRobot v3.0 datasets "
                           "(convert v2.1 with lerobot's convert_dataset_v21_to_v30)")
    emb = embodiment or (info.get("h05_embodiment") or {}).get("name") or info.get("robot_type")
    try:
        mapping = mapping_of(str(emb))
    except (UnifiedSpaceError, KeyError) as exc:
        raise DatasetError(f"{root}: embodiment {emb!r} has no unified-space mapping ({exc}); pass embodiment=") from None
    features = info.get("features", {})
    for key in (STATE_KEY, ACTION_KEY):
        if key not in features:
            raise DatasetError(f"{root}: meta/info.json has no feature {key!r}; features: {sorted(features)}")
    all_cams = [k[len(IMAGE_PREFIX):] for k, f in features.items()
                if k.startswith(IMAGE_PREFIX) and f.get("dtype") == "video"]
    cams = list(cameras) if cameras else all_cams
    missing = [c for c in cams if c not in all_cams]
    if missing or not cams:
        raise DatasetError(f"{root}: cameras {missing or cams} not among the dataset's video features {all_cams}")
    stats_path = root / "meta" / "stats.json"
    if not stats_path.is_file():
        raise DatasetError(f"{root}: meta/stats.json is missing (normalisation statistics are read from it; "
                           "recompute them with the recorder or lerobot before training)")
    raw_stats = json.loads(stats_path.read_text())
    table = _read_parquets(root / "data")
    state = _column(table, STATE_KEY, root)
    action = _column(table, ACTION_KEY, root)
    for key, x in ((STATE_KEY, state), (ACTION_KEY, action)):
        bad = ~np.isfinite(x)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise DatasetError(f"{root}: {key} holds NaN/inf in {len(rows)} rows (first rows {rows[:5].tolist()}, "
                               f"slots {np.flatnonzero(bad.any(axis=0))[:8].tolist()})")
    state = _to_unified(mapping, "state", state, root, STATE_KEY)
    action = _to_unified(mapping, "action", action, root, ACTION_KEY)
    episode = _column(table, "episode_index", root).astype(np.int64)
    frame_index = _column(table, "frame_index", root).astype(np.int64)
    task_index = _column(table, "task_index", root).astype(np.int64)
    order = np.lexsort((frame_index, episode))
    state, action, episode, frame_index, task_index = (a[order] for a in (state, action, episode, frame_index, task_index))
    ends = np.zeros(len(episode), np.int64)
    change = np.flatnonzero(np.diff(episode)) + 1
    bounds = np.concatenate([[0], change, [len(episode)]])
    for a, b in zip(bounds[:-1], bounds[1:]):
        ends[a:b] = b
    tasks_tab = pq.read_table(root / "meta" / "tasks.parquet").to_pydict()
    task_names = tasks_tab.get("task") or tasks_tab.get("__index_level_0__")
    if task_names is None:
        raise DatasetError(f"{root}: meta/tasks.parquet has no 'task' column")
    tasks = [""] * (max(tasks_tab["task_index"]) + 1)
    for i, t in zip(tasks_tab["task_index"], task_names):
        tasks[int(i)] = str(t)
    if task_index.max(initial=0) >= len(tasks):
        raise DatasetError(f"{root}: task_index {int(task_index.max())} not in meta/tasks.parquet")
    stats = {}
    for side, key in (("state", STATE_KEY), ("action", ACTION_KEY)):
        if key not in raw_stats:
            raise DatasetError(f"{root}: meta/stats.json has no entry {key!r}; has {sorted(raw_stats)}")
        stats[side] = _stats_to_unified(mapping, side, dict(raw_stats[key]), root, key)
    ds = LeRobotDataset(root=root, name=name or root.name, embodiment=mapping.name, fps=float(info.get("fps", 0)),
                        cameras=cams, tasks=tasks, state=state, action=action, episode=episode, episode_end=ends,
                        task_index=task_index, stats=stats, state_mask=mapping.mask("state"),
                        action_mask=mapping.mask("action"))
    ds.info_video_template = info.get("video_path", ds.info_video_template)
    # Where each row's frame lives: (chunk, file) and the frame number inside that file.
    eps = _read_parquets(root / "meta" / "episodes").to_pydict()
    by_ep = {int(e): i for i, e in enumerate(eps["episode_index"])}
    fps = ds.fps
    for cam in cams:
        key = f"videos/{IMAGE_PREFIX}{cam}"
        need = [f"{key}/chunk_index", f"{key}/file_index", f"{key}/from_timestamp"]
        absent = [n for n in need if n not in eps]
        if absent:
            raise DatasetError(f"{root}: meta/episodes lacks {absent}")
        files = np.zeros((len(ds), 2), np.int64)
        frames = np.zeros(len(ds), np.int64)
        for e in np.unique(episode):
            if int(e) not in by_ep:
                raise DatasetError(f"{root}: episode {int(e)} is in data but not in meta/episodes")
            j = by_ep[int(e)]
            rows = episode == e
            files[rows] = (eps[f"{key}/chunk_index"][j], eps[f"{key}/file_index"][j])
            frames[rows] = np.round((eps[f"{key}/from_timestamp"][j]) * fps).astype(np.int64) + frame_index[rows]
        ds.video_files[cam], ds.video_frames[cam] = files, frames
    return ds


def instruction_of_rows(ds: LeRobotDataset) -> list[str]:
    return [ds.tasks[i] for i in ds.task_index]
