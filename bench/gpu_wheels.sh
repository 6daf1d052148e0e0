#!/usr/bin/env bash
# Here, before a lent GPU's run of bench/gpu_run.sh: what that machine lacks, as
# wheels in .whl/ (ignored by git; the device call names it in `carry`), and the demo
# model's tokenizer and config in .cache/gpu/tokenizer (random weights of its shape are
# built there, so no weights travel). The device image has torch, triton, accelerate,
# numpy, pyyaml, psutil, rich and nvidia-ml-py, and no network.
#
#     bash bench/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=".venv/bin/python -m pip"
rm -rf .whl && mkdir -p .whl .cache/gpu/tokenizer
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 \
         manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
# Versions as constraints.txt pins them (liger-kernel is a GPU-only extra: the newest).
for spec in transformers trl peft datasets dill multiprocess pydantic pydantic-core \
            annotated-types typing-inspection gguf bitsandbytes "liger-kernel>=0.8.5"; do
  $PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -c constraints.txt -d .whl "$spec"
done
# bitsandbytes ships a library per CUDA release (43 MB): keep the CUDA 13 ones the
# device's torch uses, so the tree and the wheels stay under the call's 64 MiB.
.venv/bin/python - <<'PY'
import pathlib, zipfile
wheel = next(pathlib.Path(".whl").glob("bitsandbytes-*.whl"))
slim = wheel.with_suffix(".slim")
with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as out:
    for item in source.infolist():
        name = item.filename
        if "libbitsandbytes_cuda1" in name and not name.endswith(("cuda130.so", "cuda132.so")):
            continue
        out.writestr(item, source.read(name))
slim.replace(wheel)
PY
folder=$(.venv/bin/python -c "from ftwizard.core.models.builtin import BUILTIN_MODELS as B; print(B['smollm2-135m-instruct'].folder)")
[ -f "$folder/config.json" ] || .venv/bin/ftwizard models prepare smollm2-135m-instruct
for f in config.json tokenizer.json tokenizer_config.json chat_template.jinja; do
  [ -f "$folder/$f" ] && cp "$folder/$f" .cache/gpu/tokenizer/
done
du -sh .whl .cache/gpu/tokenizer
echo "next: run bench/gpu_run.sh on the card, carrying .whl and .cache/gpu"
