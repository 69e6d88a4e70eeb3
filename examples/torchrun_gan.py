"""Train the shared conditional GAN on every GPU of one or several nodes, under torchrun.

    torchrun --standalone --nproc-per-node 4 examples/torchrun_gan.py CONFIG.yaml OUT/gan.pt
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \
        --rdzv-id my-gan examples/torchrun_gan.py CONFIG.yaml OUT/gan.pt

Every rank runs this script; ``train_gan`` joins torchrun's world (gloo on CPUs, NCCL on GPUs, one
GPU per rank), rank 0 writes the checkpoint, and rerunning the same command resumes it. The data
are the config's ``data`` section, read whole by every rank; the GAN settings its ``gan`` section
(``gan.processes`` is not read: torchrun's world is used). The checkpoint loads wherever one
process's does (``gan_aug.checkpoint.load_sampler``, ``GANGenerator.load``).
"""
from __future__ import annotations

import json
import logging
import os
import sys

from gan_aug.config import load_config
from gan_aug.data.load import load_source
from gan_aug.device import resolve_device
from gan_aug.train import train_gan


def log_progress(step: int, total: int, record: dict) -> None:
    logging.getLogger("gan_aug.train").info("step %d/%d %s", step, total, record)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config_path, checkpoint = sys.argv[1:3]
    config = load_config(config_path)
    data = load_source(config.data).data
    result = train_gan(data, config.gan, checkpoint, config_hash=config.section_hash("data", "gan"),
                       device=resolve_device(config.gan.device), progress=log_progress)
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(result.to_dict()))
