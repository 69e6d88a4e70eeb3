"""Data-parallel GAN training (gan_aug/train/distributed.py) in real processes: two ranks over gloo on
the CPU, each taking half of every batch of scikit-learn's digits.

Every multi-process run is a subprocess with a timeout, so a rank left waiting for the others fails
the test instead of hanging it. What two processes share with one: the checkpoint's format and step
count, the history's steps, the stop; not the bytes (each rank draws its own rows, and batch norm
sees half a batch), so the losses are compared by range.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gan_aug.checkpoint import load_checkpoint, load_sampler
from gan_aug.config import GANConfig
from gan_aug.train import train_gan
from gan_aug.train.distributed import World, process_count
from gan_aug.train.loop import _Trainer

REPO = Path(__file__).resolve().parents[1]
# Tiny and fp32 (bf16 autocast on some CPUs would make the numbers machine-dependent).
GAN = dict(z_dim=32, base_channels=16, batch_size=32, eval_every=0, precision="fp32", processes=2)
LAUNCH_TIMEOUT = 240  # seconds: two processes start in ~10 s and train these runs in ~10 s on 2 busy cores

# The process the tests start: train the GAN on the digits; under torchrun, one rank of its world.
JOB = r'''
import json, logging, sys
import numpy as np
import torch
torch.set_num_threads(1)
from gan_aug.config import GANConfig
from gan_aug.data.builtin import digits
from gan_aug.metrics.extractors import FeatureExtractor
from gan_aug.monitor import build_monitor
from gan_aug.train import train_gan


class Pixels(FeatureExtractor):
    """Raw pixels as features: FD checks with no classifier to train (and no agreement to improve)."""
    name = "pixels"
    dim = 64
    device = torch.device("cpu")

    def _features(self, images):
        return images.reshape(len(images), -1).astype(np.float64) / 255.0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    target, settings = sys.argv[1], json.loads(sys.argv[2])
    data = digits()
    if sys.argv[3:] == ["stage"]:  # the pipeline's GAN stage, its FD checks on a domain classifier's features
        from gan_aug.metrics.domain_classifier import train_domain_extractor
        from gan_aug.metrics.extractors import DomainExtractor
        from gan_aug.stages import plan_gans, train_job
        domain = DomainExtractor(train_domain_extractor(data, steps=5))
        job = plan_gans("shared", [1, 2])[0]
        trained = train_job(job, data, data, GANConfig(**settings), target, base_hash="ddp", domain=domain)
        print(json.dumps({**trained.result.to_dict(), "samplers": sorted(trained.samplers)}))
        sys.exit()
    monitor = build_monitor(Pixels(), data, data, [1, 2], samples=32) if settings.get("eval_every") else None
    result = train_gan(data, GANConfig(**settings), target, config_hash="ddp", monitor=monitor, log_every=10)
    print(json.dumps(result.to_dict()))
'''


def _script(folder: Path) -> Path:
    path = folder / "ddp_job.py"
    path.write_text(JOB, encoding="utf-8")
    return path


def _env() -> dict[str, str]:
    # This worktree's gan_aug, not the installed one: the script's folder, not the repo, heads sys.path.
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _train(folder: Path, settings: dict, *mode: str) -> dict:
    """Run the job to the end (``mode`` "stage": through the pipeline's GAN stage); its result."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(_script(folder)), str(folder / "gan.pt"), json.dumps(settings), *mode]
    done = subprocess.run(command, cwd=folder, env=_env(), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> tuple[dict, Path]:
    """One 40-step run of two processes, checkpoint every 10 steps."""
    folder = tmp_path_factory.mktemp("two")
    return _train(folder, {**GAN, "steps": 40, "checkpoint_every": 10}), folder / "gan.pt"


def test_two_processes_write_one_checkpoint_the_sampler_loads(two_processes):
    result, path = two_processes
    assert (result["steps"], result["resumed_from"], result["stop_reason"]) == (40, 0, "steps")
    assert [r["step"] for r in result["history"]] == [10, 20, 30, 40]
    state = load_checkpoint(path)
    assert state["step"] == 40 and [r["step"] for r in state["history"]] == [10, 20, 30, 40]
    # Every rank's RNG is kept (to resume them all); "rng" is rank 0's, as one process keeps its own.
    assert len(state["rank_rngs"]) == 2 and torch.equal(state["rank_rngs"][0], state["rng"])
    assert not torch.equal(state["rank_rngs"][0], state["rank_rngs"][1])
    # One writer: one checkpoint and its timing file, nothing half-written beside them.
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith("gan")) == ["gan.pt", "gan.timing.json"]
    generator, _ = load_sampler(path)
    with torch.no_grad():
        images = generator(torch.randn(4, generator.z_dim), torch.tensor([0, 1, 2, 3]))
    assert images.shape == (4, 1, 8, 8) and torch.isfinite(images).all()


def test_one_process_and_two_agree_on_format_steps_and_loss_range(two_processes, digits_set, tmp_path):
    """Equal: the keys, the networks' shapes, the step count, the logged steps, the settings' hash (so a
    rerun with either count reuses the other's checkpoint). Not equal: the weights and losses, which
    stay in the same range."""
    result, path = two_processes
    one = train_gan(digits_set, GANConfig(**{**GAN, "processes": 1, "steps": 40, "checkpoint_every": 10}),
                    tmp_path / "gan.pt", config_hash="ddp", log_every=10)
    alone, together = load_checkpoint(one.checkpoint), load_checkpoint(path)
    assert set(together) == set(alone) | {"rank_rngs"}
    assert (alone["arch"], alone["config_hash"], alone["step"]) == (together["arch"], together["config_hash"], 40)
    for name in ("generator", "generator_ema", "discriminator"):
        assert {k: v.shape for k, v in alone[name].items()} == {k: v.shape for k, v in together[name].items()}
    assert [r["step"] for r in one.history] == [r["step"] for r in result["history"]]
    # One process's seeds 0-4 end these 40 steps at loss_d 1.07-2.37 and loss_g -0.26-1.12 (measured): a
    # 32-image batch's loss is noisy, so "the same range" is that spread, and D learns in both (loss_d falls).
    for solo, pair in zip(one.history, result["history"]):
        assert abs(solo["loss_d"] - pair["loss_d"]) < 1.5 and abs(solo["loss_g"] - pair["loss_g"]) < 1.5, (solo, pair)
    for history in (one.history, result["history"]):
        assert history[-1]["loss_d"] < history[0]["loss_d"]
    assert any(not torch.equal(value, together["generator"][key]) for key, value in alone["generator"].items())
    # The finished two-process checkpoint is reused by one process: the same settings made it.
    again = train_gan(digits_set, GANConfig(**{**GAN, "processes": 1, "steps": 40, "checkpoint_every": 10}), path,
                      config_hash="ddp", log_every=10)
    assert again.resumed_from == 40 and again.sha256 == result["sha256"]


@pytest.mark.slow  # ~20 s; the time-budget test below keeps a rank-0 decision in the default run
def test_an_early_stop_ends_every_rank_at_the_same_step(tmp_path):
    """Rank 0 checks quality; only a 99.9% FD drop counts as improving, so after the first check none
    does and patience 2 stops at the third check. The other rank stops there too, or the run would hang."""
    settings = {**GAN, "steps": 100, "eval_every": 5, "eval_samples": 32, "early_stop_patience": 2,
                "early_stop_min_delta": 0.999, "checkpoint_every": 50}
    result = _train(tmp_path, settings)
    assert (result["steps"], result["stop_reason"], result["stopped_early"]) == (15, "early stop", True)
    assert [q["step"] for q in result["quality_history"]] == [5, 10, 15]
    state = load_checkpoint(tmp_path / "gan.pt")
    assert state["step"] == 15 and state["stop_reason"] == "early stop"
    for label in (1, 2):
        load_sampler(tmp_path / "gan.pt", label=label)  # each class's best weights are in the checkpoint


def test_a_time_budget_ends_every_rank_at_rank_0s_step(tmp_path):
    """Each rank has its own clock; rank 0's decides. At the last save every rank's weights are
    compared (distributed.World.check_in_step), so ranks that stopped apart would fail the run."""
    result = _train(tmp_path, {**GAN, "steps": 100_000, "time_budget_s": 2, "checkpoint_every": 100_000})
    assert result["stop_reason"] == "time budget" and 0 < result["steps"] < 100_000
    assert load_checkpoint(tmp_path / "gan.pt")["step"] == result["steps"]


@pytest.mark.slow
def test_the_readme_torchrun_example_trains_what_the_launcher_trains(two_processes, tmp_path):
    """examples/torchrun_gan.py under torchrun: every rank runs the script, train_gan joins torchrun's
    world (gan.processes is not read) and trains, bit for bit, what the launcher's two processes train:
    on the CPU gloo sums the ranks' values in a fixed order, so the same seed and process count repeat
    (a second launcher run would too; this one also shows torchrun's world is the launcher's)."""
    yaml = pytest.importorskip("yaml")
    result, path = two_processes
    config = tmp_path / "gan.yaml"
    settings = {k: v for k, v in GAN.items() if k != "processes"}
    config.write_text(yaml.safe_dump({"data": {"source": "digits", "cache": False},
                                      "gan": {**settings, "steps": 40, "checkpoint_every": 10, "device": "cpu"}}))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(REPO / "examples" / "torchrun_gan.py"), str(config), str(tmp_path / "gan.pt")]
    done = subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    joined = json.loads(done.stdout.strip().splitlines()[-1])  # rank 0 alone prints
    assert (joined["steps"], joined["resumed_from"]) == (40, 0)
    ours, theirs = load_checkpoint(tmp_path / "gan.pt"), load_checkpoint(path)
    assert len(ours["rank_rngs"]) == 2  # (its history is logged every 50 steps, the launcher job's every 10)
    for name in ("generator", "generator_ema", "discriminator"):
        for key, value in theirs[name].items():
            assert torch.equal(ours[name][key], value), (name, key)
    assert all(torch.equal(a, b) for a, b in zip(ours["rank_rngs"], theirs["rank_rngs"]))


@pytest.mark.slow
def test_the_gan_stage_trains_in_several_processes_with_its_fd_checks(tmp_path):
    """train_job (what the flow's GAN task and GANOverSampler call) with gan.processes 2: its monitor,
    a domain classifier's, travels to the ranks and rank 0's checks keep each class's best weights."""
    settings = {**GAN, "steps": 20, "eval_every": 10, "eval_samples": 32, "early_stop_patience": 0}
    result = _train(tmp_path, settings, "stage")
    assert result["steps"] == 20 and [q["step"] for q in result["quality_history"]] == [10, 20]
    assert set(result["best"]) == {"1", "2"} and result["samplers"] == list(range(10))
    state = load_checkpoint(tmp_path / "gan.pt")
    assert len(state["rank_rngs"]) == 2 and set(state["snapshots"]) == {str(b["step"]) for b in result["best"].values()}


def _workers(parent: int) -> list[int]:
    """The ranks the launcher started: ``parent``'s children that multiprocessing spawned."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent and b"spawn_main" in command:
                found.append(int(entry.name))
    return sorted(found)


@pytest.mark.slow
def test_kill_9_of_rank_1_restarts_every_rank_from_the_last_checkpoint(tmp_path):
    """SIGKILL of the second rank after a checkpoint: the launcher's agent stops rank 0, starts both
    again, and they resume from the last whole checkpoint and finish the run."""
    steps, every = 400, 20
    path = tmp_path / "gan.pt"
    command = [sys.executable, str(_script(tmp_path)), str(path), json.dumps({**GAN, "steps": steps,
                                                                              "checkpoint_every": every})]
    log = tmp_path / "job.log"
    with open(log, "wb") as sink:  # LOGLEVEL: the elastic agent logs its restart (where a stall would show)
        proc = subprocess.Popen(command, cwd=tmp_path, env={**_env(), "LOGLEVEL": "INFO"}, stdout=subprocess.PIPE,
                                stderr=sink)
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while not (path.is_file() and load_checkpoint(path)["step"] >= 2 * every):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint of step 40 in time"
            time.sleep(0.1)
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[-1], signal.SIGKILL)  # started second: local rank 1
        try:
            out, _ = proc.communicate(timeout=1.5 * LAUNCH_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"no end after the kill: {log.read_text()[-4000:]}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, log.read_text()[-4000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["steps"] == steps and 2 * every <= result["resumed_from"] < steps
    assert result["resumed_from"] % every == 0
    state = load_checkpoint(path)  # whole, and the history has every logged step once
    assert state["step"] == steps and [r["step"] for r in state["history"]] == list(range(10, steps + 1, 10))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    load_sampler(path)


# --------------------------------------------------------------------------- settings refused, no process started

def test_a_batch_that_does_not_divide_by_the_processes_is_refused():
    with pytest.raises(ValueError, match=r"gan.batch_size \(30\) must divide by gan.processes \(4\)"):
        GANConfig(batch_size=30, processes=4)
    with pytest.raises(ValueError, match="gan.processes must be at least 1"):
        GANConfig(processes=0)
    # Under torchrun the world's size is what must divide the batch.
    with pytest.raises(ValueError, match=r"gan.batch_size \(32\) must divide by the 3 processes"):
        from gan_aug.checkpoint import Architecture
        _Trainer(Architecture(8, 3, 8, 1, 8), GANConfig(batch_size=32), torch.device("cpu"), 10, World(0, 3))


def test_processes_resolve_against_the_visible_gpus(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert process_count("auto", cpu, 64) == 1 and process_count(2, cpu, 64) == 2
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert process_count("auto", cuda, 64) == 2
    with pytest.raises(ValueError, match=r"gan.processes is 3 but 2 CUDA device\(s\) are visible"):
        process_count(3, cuda, 64)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    with pytest.raises(ValueError, match=r"gan.batch_size \(30\) must divide by gan.processes \(auto → 4\)"):
        process_count("auto", cuda, 30)


def test_a_stage_of_several_processes_holds_the_slot_of_every_gpu_it_takes(monkeypatch, tmp_path):
    """The flow's GAN task takes the GPU slot (lock file) of each GPU its processes train on."""
    from gan_aug.device import gpu_slots
    from gan_aug.train.distributed import devices_held

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert devices_held("auto", "cuda:0", 64) == ["cuda:0", "cuda:1"]
    assert devices_held(1, "cuda:1", 64) == ["cuda:1"] and devices_held("auto", "cpu", 64) == ["cpu"]
    monkeypatch.setenv("WORLD_SIZE", "4")  # under torchrun a rank holds its own GPU only
    monkeypatch.setenv("RANK", "1")
    assert devices_held("auto", "cuda:0", 64) == ["cuda:0"]
    with gpu_slots(["cuda:0", "cuda:1"], lock_dir=tmp_path):
        assert len(list(tmp_path.glob("*-cuda0.lock"))) == len(list(tmp_path.glob("*-cuda1.lock"))) == 1
