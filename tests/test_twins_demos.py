"""The demo recorder writes a readable LeRobot v3.0 dataset."""

import json

import av
import pyarrow.parquet as pq

from envs.twins.demos import record_embodiment


def test_recorder_writes_lerobot_v3(tmp_path):
    root = record_embodiment("so101", ["place_on_pad"], 1, tmp_path, progress=False)
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 30 and info["total_episodes"] == 1
    data = pq.read_table(root / "data" / "chunk-000" / "file-000.parquet")
    assert data.num_rows == info["total_frames"] > 10
    assert data.schema.field("observation.state").type.list_size == 200
    ep = pq.read_table(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()[0]
    assert ep["length"] == data.num_rows and ep["success"]
    with av.open(str(root / "videos" / "observation.images.scene" / "chunk-000" / "file-000.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == data.num_rows and frames[0].shape == (224, 224, 3) and frames[0].std() > 5
    assert info["h05_embodiment"]["action_mask"] == [0, 1, 2, 3, 4, 5, 18]
