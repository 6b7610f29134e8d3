"""Expert demonstrations of the twins written as LeRobot v3.0 datasets (``h05 demos``).

One dataset per embodiment (a dataset has one fps = the control rate):
``<out>/<embodiment>/`` with data/chunk-000/file-000.parquet (unified 200-D
state and action as fixed-size float32 lists), one AV1 mp4 per camera under
videos/observation.images.<camera>/chunk-000/file-000.mp4 (episodes back to
back), meta/info.json (features, fps, per-embodiment metadata: slot masks,
native feature map, control rate), meta/tasks.parquet,
meta/episodes/chunk-000/file-000.parquet and meta/stats.json. A finished
dataset (meta/info.json present) is skipped on rerun: delete it to redo.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

CODEC, PIX_FMT, CRF, GOP = "libsvtav1", "yuv420p", 30, 2


def _video_writer(path: Path, fps: int, size: int):
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    container = av.open(str(path), mode="w")
    stream = container.add_stream(CODEC, rate=fps)
    stream.width = stream.height = size
    stream.pix_fmt = PIX_FMT
    stream.options = {"crf": str(CRF), "g": str(GOP), "preset": "12"}
    return container, stream


def _stats(x: np.ndarray) -> dict:
    qs = {f"q{int(q * 100):02d}": np.quantile(x, q, axis=0).tolist() for q in (0.01, 0.10, 0.50, 0.90, 0.99)}
    return {"min": x.min(0).tolist(), "max": x.max(0).tolist(), "mean": x.mean(0).tolist(), "std": x.std(0).tolist(),
            "count": [int(len(x))], **qs}


def record_embodiment(embodiment: str, tasks: Sequence[str], episodes: int, out: Path, keep_failures: bool = False,
                      start_index: int = 0, progress: bool = True) -> Path:
    """Record ``episodes`` expert episodes per task on one embodiment; return the dataset folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from envs.twins.benchmark import find_pair
    from envs.twins.env import IMAGE_SIZE, TwinEnv
    from envs.twins.expert import run_expert_episode
    from envs.twins.embodiments import load_embodiment
    from envs.unified_space import embodiment as mapping_of

    root = out / embodiment
    if (root / "meta" / "info.json").exists():
        print(f"demos: {root} is complete, skipping (delete it to re-record)", file=sys.stderr)
        return root
    tmp = out / f".{embodiment}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    spec = load_embodiment(embodiment)
    fps = int(spec.control_hz)
    mapping = mapping_of(embodiment)
    writers = {cam: _video_writer(tmp / "videos" / f"observation.images.{cam}" / "chunk-000" / "file-000.mp4", fps, IMAGE_SIZE)
               for cam in spec.cameras}
    import av

    rows: dict[str, list] = {k: [] for k in ("observation.state", "action", "timestamp", "frame_index", "episode_index", "index", "task_index")}
    episodes_meta, task_names = [], []
    index = ep = 0
    frames_total = 0
    for task in tasks:
        info = find_pair(task, embodiment)
        env = TwinEnv(info, render=True)
        if info.instruction not in task_names:
            task_names.append(info.instruction)
        tidx = task_names.index(info.instruction)
        for k in range(episodes):
            buf: list[tuple[dict, np.ndarray]] = []
            result = run_expert_episode(env, start_index + k, seed=start_index + k,
                                        on_step=lambda o, a: buf.append(({c: im for c, im in o["images"].items()}, o["state"], a)))
            if progress:
                print(f"demos {embodiment} {task} init {start_index + k}: {'success' if result['success'] else 'failure'} "
                      f"({result['steps']} steps)", file=sys.stderr, flush=True)
            if not result["success"] and not keep_failures:
                continue
            from_ts = frames_total / fps
            for i, (images, state, action) in enumerate(buf):
                rows["observation.state"].append(np.asarray(state, np.float32))
                rows["action"].append(np.asarray(action, np.float32))
                rows["timestamp"].append(np.float32(i / fps))
                rows["frame_index"].append(i)
                rows["episode_index"].append(ep)
                rows["index"].append(index)
                rows["task_index"].append(tidx)
                index += 1
                for cam, (container, stream) in writers.items():
                    for packet in stream.encode(av.VideoFrame.from_ndarray(images[cam], format="rgb24")):
                        container.mux(packet)
            frames_total += len(buf)
            meta = {"episode_index": ep, "tasks": [info.instruction], "length": len(buf), "success": bool(result["success"]),
                    "init_index": start_index + k, "data/chunk_index": 0, "data/file_index": 0,
                    "dataset_from_index": index - len(buf), "dataset_to_index": index}
            for cam in spec.cameras:
                key = f"videos/observation.images.{cam}"
                meta.update({f"{key}/chunk_index": 0, f"{key}/file_index": 0, f"{key}/from_timestamp": from_ts,
                             f"{key}/to_timestamp": frames_total / fps})
            episodes_meta.append(meta)
            ep += 1
        env.close()
    for container, stream in writers.values():
        for packet in stream.encode():
            container.mux(packet)
        container.close()
    if ep == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"demos: no successful expert episode on {embodiment} for {list(tasks)}; nothing written")
    vec = pa.list_(pa.float32(), 200)
    table = pa.table({
        "observation.state": pa.array([r.tolist() for r in rows["observation.state"]], type=vec),
        "action": pa.array([r.tolist() for r in rows["action"]], type=vec),
        "timestamp": pa.array(rows["timestamp"], type=pa.float32()),
        "frame_index": pa.array(rows["frame_index"], type=pa.int64()),
        "episode_index": pa.array(rows["episode_index"], type=pa.int64()),
        "index": pa.array(rows["index"], type=pa.int64()),
        "task_index": pa.array(rows["task_index"], type=pa.int64()),
    })
    (tmp / "data" / "chunk-000").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp / "data" / "chunk-000" / "file-000.parquet")
    (tmp / "meta" / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(episodes_meta), tmp / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    pq.write_table(pa.table({"task_index": list(range(len(task_names))), "task": task_names}), tmp / "meta" / "tasks.parquet")
    state, action = np.stack(rows["observation.state"]), np.stack(rows["action"])
    names200 = [f"slot_{i}" for i in range(200)]
    video_info = {"video.fps": fps, "video.codec": "av1", "video.pix_fmt": PIX_FMT, "video.is_depth_map": False,
                  "video.height": IMAGE_SIZE, "video.width": IMAGE_SIZE, "video.channels": 3, "has_audio": False}
    features = {
        "observation.state": {"dtype": "float32", "shape": [200], "names": names200},
        "action": {"dtype": "float32", "shape": [200], "names": names200},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
    }
    for cam in spec.cameras:
        features[f"observation.images.{cam}"] = {"dtype": "video", "shape": [IMAGE_SIZE, IMAGE_SIZE, 3],
                                                 "names": ["height", "width", "channels"], "info": video_info}
    info_json = {
        "codebase_version": "v3.0", "robot_type": embodiment, "fps": fps, "total_episodes": ep, "total_frames": index,
        "total_tasks": len(task_names), "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 500,
        "splits": {"train": f"0:{ep}"},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
        "features": features,
        "h05_embodiment": {
            "name": embodiment, "description": spec.description, "control_hz": spec.control_hz,
            "state_mask": np.flatnonzero(mapping.mask("state")).tolist(),
            "action_mask": np.flatnonzero(mapping.mask("action")).tolist(),
            "state_features": dict(mapping.state), "action_features": dict(mapping.action), "notes": dict(mapping.notes),
            "source": "scripted privileged-state experts (envs/twins/expert.py)",
        },
    }
    (tmp / "meta" / "stats.json").write_text(json.dumps({"observation.state": _stats(state), "action": _stats(action)}))
    (tmp / "meta" / "info.json").write_text(json.dumps(info_json, indent=1))
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    return root


def demos_main(argv: Sequence[str]) -> int:
    """``h05 demos --benchmark twins [--tasks ...] [--embodiments ...] --episodes N --out DIR``."""
    from envs.benchmarks import UnknownNameError
    from envs.twins.embodiments import embodiment_names, load_embodiment
    from envs.twins.tasks import TASKS, TASKS_BY_NAME

    p = argparse.ArgumentParser(prog="h05 demos", description="record scripted-expert demonstrations as LeRobot v3.0 datasets")
    p.add_argument("--benchmark", default="twins", help="only 'twins' has scripted experts")
    p.add_argument("--tasks", nargs="*", default=None, help="twin task names (default: all)")
    p.add_argument("--embodiments", nargs="*", default=None, help="default: all five")
    p.add_argument("--episodes", type=int, default=50, help="episodes per task (init indices start..start+N-1)")
    p.add_argument("--start-index", type=int, default=0)
    p.add_argument("--out", default="datasets/twins")
    p.add_argument("--keep-failures", action="store_true")
    a = p.parse_args(argv)
    if a.benchmark != "twins":
        raise UnknownNameError(f"h05 demos: benchmark {a.benchmark!r} has no scripted experts; use --benchmark twins")
    if a.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {a.episodes}")
    for t in a.tasks or []:
        if t not in TASKS_BY_NAME:
            raise UnknownNameError(f"unknown twin task {t!r}; known: {', '.join(TASKS_BY_NAME)}")
    for e in a.embodiments or []:
        if e not in embodiment_names():
            raise UnknownNameError(f"unknown twin embodiment {e!r}; known: {', '.join(embodiment_names())}")
    from envs.rendering import configure_headless_rendering

    configure_headless_rendering()
    for emb in a.embodiments or embodiment_names():
        spec = load_embodiment(emb)
        tasks = [t.name for t in TASKS if (a.tasks is None or t.name in a.tasks) and t.feasible(spec)]
        if not tasks:
            continue
        root = record_embodiment(emb, tasks, a.episodes, Path(a.out), a.keep_failures, a.start_index)
        print(root)
    return 0
