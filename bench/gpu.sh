#!/usr/bin/env bash
# Every check that needs CUDA, in one run of about 9 minutes on one H100/H200: the gpu-marked tests,
# GAN training speed at 28×28 (bf16, channels-last, torch.compile; target ≥ 50,000 images/s), each
# stage's seconds at 10k and 30k rows (bench/scale.py: replaces its projection's "1 GPU" column) and
# the GAN quality benchmark at full length (20,000 steps). The GPU machine has torch but not every package
# this project needs, no Fashion-MNIST and no network, so they travel with the call:
#
#   bash bench/gpu.sh --prepare      # here: wheels into .whl/, Fashion-MNIST into .data/ (both git-ignored)
#   then, on the device tool:        run  command="bash bench/gpu.sh"  carry=[".whl", ".data"]  timeout_s=600
#
# Results go to $OUT (the device tool brings them back) or ./gpu-out.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    grep -qx '/.data/' .git/info/exclude 2>/dev/null || echo '/.data/' >> .git/info/exclude
    mkdir -p .whl .data/fashion-mnist
    cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .data/fashion-mnist/
    # What the device image lacks (its Python is 3.12; torch, numpy, pandas, pyarrow, scikit-learn, scipy,
    # pillow, jinja2, matplotlib, rich, typer, filelock and pyyaml are there).
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
        pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
        imbalanced-learn==0.14.2 pytorch-fid==0.3.0
    du -sh .whl .data
    exit 0
fi

OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 GAN_AUG_FASHION_MNIST_DIR="$PWD/.data/fashion-mnist"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"

echo "== gpu-marked tests"
python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_train.py tests/test_runners.py tests/test_distributed.py 2>&1 | tee "$OUT/gpu-tests.txt" || true

echo "== GAN speed at 28×28 (bf16, channels-last, compile)"
timeout 120 python3 bench/gan_speed.py --device cuda --sizes 28 --batch-size 1024 --steps 100 --compile \
    2>&1 | tee "$OUT/gan_speed.txt" || true

echo "== each stage's seconds on CUDA at 28 px (bench/scale.py)"
timeout 110 python3 bench/scale.py --device cuda --px 28 --sizes 10000 30000 --out "$OUT/scale.json" \
    2>&1 | tee "$OUT/scale.txt" || true

echo "== GAN quality at full length"
timeout 270 python3 bench/gan_quality.py --device cuda --out /tmp/quality --steps 20000 --batch-size 256 \
    --eval-every 1000 --tag cuda-20000 2>&1 | tee "$OUT/gan_quality.txt" || true
cp /tmp/quality/quality-*.json "$OUT/" 2>/dev/null || true
