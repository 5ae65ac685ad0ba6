#!/usr/bin/env bash
# Wheels the GPU machine lacks (or has at other versions), for benchmarks/gpu_step.py there:
# its image has torch, accelerate, tokenizers, safetensors, huggingface_hub, pyarrow, pandas,
# pytest, pyyaml, rich, httpx and numpy, but no trl, datasets or pydantic and an older
# transformers (5.17). Writes .whl/ (git-ignored; name it in the device run's carry). Run here,
# where pip reaches the registry; the versions are the ones this project is tested with.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${PIP:-.venv/bin/pip}"
rm -rf .whl && mkdir -p .whl
"$PIP" download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  transformers==5.24.0 trl==1.16.0 peft==0.21.2 datasets==5.2.0 \
  pydantic==2.14.4 pydantic_core==2.50.5 annotated_types==0.8.0 typing_inspection==0.4.5 \
  typing_extensions==4.16.0 dill==0.4.1 multiprocess==0.70.19 fsspec==2026.9.0 \
  sniffio==1.3.1 regex==2026.11.19
ls .whl && du -sh .whl
