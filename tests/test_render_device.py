"""EGL device choice: NVIDIA GPUs where present, Mesa llvmpipe here; every record says what rendered."""

from __future__ import annotations

import pytest

from envs.render_device import (EglDevice, RenderDeviceError, current_render_device, parse_render_device,
                                probe_egl_devices, resolve_render_devices)
from evaluators.config import ConfigError
from evaluators.eval_command import run_eval
from evaluators.store import EpisodeStore

MESA_ONLY = [EglDevice(0, "llvmpipe")]
GPU_NODE = [EglDevice(0, "nvidia", 1), EglDevice(1, "nvidia", 0), EglDevice(2, "llvmpipe"), EglDevice(3, "other")]


def test_auto_prefers_nvidia_in_cuda_order_and_falls_back_to_llvmpipe():
    assert resolve_render_devices("auto", MESA_ONLY) == MESA_ONLY
    assert [d.label for d in resolve_render_devices("auto", GPU_NODE)] == ["nvidia:0", "nvidia:1"]
    assert [d.index for d in resolve_render_devices("auto", GPU_NODE, visible=[1, 0])] == [0, 1]
    assert [d.label for d in resolve_render_devices("cpu", GPU_NODE)] == ["llvmpipe"]
    assert [d.index for d in resolve_render_devices(1, GPU_NODE)] == [0]
    assert resolve_render_devices("auto", []) == []


@pytest.mark.parametrize("value", ["banana", -1, True, "0.5", None])
def test_bad_render_device_values_are_named(value):
    with pytest.raises(RenderDeviceError, match=f"got {value!r}"):
        parse_render_device(value)


def test_unavailable_devices_are_named_with_what_exists():
    with pytest.raises(RenderDeviceError, match=r"render_device=gpu but no NVIDIA EGL device.*0:llvmpipe"):
        resolve_render_devices("gpu", MESA_ONLY)
    with pytest.raises(RenderDeviceError, match=r"render_device=3 names no NVIDIA EGL device"):
        resolve_render_devices("3", GPU_NODE)
    with pytest.raises(RenderDeviceError, match="render_device=cpu but no Mesa llvmpipe"):
        resolve_render_devices("cpu", GPU_NODE[:2])


def _mesa_machine() -> bool:
    devices = probe_egl_devices()
    return bool(devices) and not any(d.kind == "nvidia" for d in devices)


needs_mesa = pytest.mark.skipif(not _mesa_machine(), reason="this machine's EGL is not Mesa-only")


@needs_mesa
def test_auto_picks_llvmpipe_here_and_a_live_context_says_so():
    assert [d.kind for d in resolve_render_devices("auto", probe_egl_devices())] == ["llvmpipe"]
    import mujoco

    from envs.rendering import configure_headless_rendering

    configure_headless_rendering()
    model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='.1'/></worldbody></mujoco>")
    with mujoco.Renderer(model, 16, 16) as renderer:
        renderer.update_scene(mujoco.MjData(model))
        renderer.render()
        info = current_render_device()
    assert info["render_device"] == "llvmpipe" and "llvmpipe" in info["gl_renderer"]


def test_workers_rotate_over_the_devices_and_a_users_choice_wins(monkeypatch):
    from envs.render_device import RESOLVED_ENV, RenderDevicePlan

    monkeypatch.setenv("MUJOCO_EGL_DEVICE_ID", "unset")  # recorded, so teardown restores the original
    monkeypatch.delenv("MUJOCO_EGL_DEVICE_ID")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    plan = RenderDevicePlan()
    plan.setting, plan.devices = "auto", resolve_render_devices("auto", GPU_NODE, visible=[1, 0])
    envs = [plan.next_worker_env() for _ in range(3)]
    assert [e["MUJOCO_EGL_DEVICE_ID"] for e in envs] == ["0", "1", "0"]  # EGL indices of CUDA 1, 0, 1
    assert all("CUDA_VISIBLE_DEVICES" not in e and e[RESOLVED_ENV] == "1" for e in envs)
    plan.apply_in_process()  # sets the first device for this process; not mistaken for a user's choice later
    assert plan._applied == "0" and not plan._user_device()
    monkeypatch.setenv("MUJOCO_EGL_DEVICE_ID", "3")
    assert plan._user_device() and plan.configure("auto") == []


TWINS = ["benchmark=twins", "suites=[spatial]", "tasks=[place_on_pad@so101]", "trials_per_task=2",
         "max_steps=3", "progress=false", "policy=noop", "render=true"]


@needs_mesa
@pytest.mark.parametrize("path", [["env_workers.enabled=false"], ["env_workers.enabled=true"], ["workers=2"]],
                         ids=["in-process", "env-worker", "two-workers"])
def test_records_carry_what_rendered(tmp_path, path):
    run_dir = run_eval([*TWINS, *path, f"runs_dir={tmp_path}", "name=r"])
    records = EpisodeStore(run_dir).records()
    assert len(records) == 2 and all(r["status"] != "error" for r in records), records
    for r in records:
        assert r["renderer"] == "egl" and r["render_device"] == "llvmpipe" and "llvmpipe" in r["gl_renderer"]


def test_blind_runs_record_no_render_device(tmp_path):
    run_dir = run_eval([*TWINS[:-1], "trials_per_task=1", f"runs_dir={tmp_path}", "name=b"])
    (record,) = EpisodeStore(run_dir).records()
    assert record["renderer"] == "none" and record["render_device"] == "none"


@pytest.mark.parametrize("value,message", [("banana", "got 'banana'"), ("gpu", "render_device=gpu but no NVIDIA")])
def test_eval_refuses_a_bad_render_device_before_writing(tmp_path, value, message):
    if value == "gpu" and not _mesa_machine():
        pytest.skip("this machine has an NVIDIA EGL device")
    with pytest.raises(ConfigError, match=message):
        run_eval([*TWINS, f"render_device={value}", f"runs_dir={tmp_path}", "name=x"])
    assert not (tmp_path / "x").exists()
