#!/usr/bin/env bash
# The main job on the embedded defaults: installs what is missing, builds,
# makes the demo model (deterministic random weights in the Hugging Face
# layout) if it is not there yet, and captures the standard hook points of
# the example prompts while generating 24 tokens each.
#
#   bash scripts/demo.sh [OUT_DIR]      (default ./out)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out}
bash scripts/install-deps.sh
bash scripts/build.sh
mkdir -p "$OUT"
if [ ! -f "$OUT/demo-model/config.json" ]; then
  ./build/server/inference/fnprobe-make-model --shape tiny --family opt \
    --seed 7 --out "$OUT/demo-model"
fi
./build/server/inference/fnprobe-capture \
  --model-dir "$OUT/demo-model" --prompts scripts/demo-prompts.json \
  --generate 24 --hooks standard --out "$OUT/demo-capture.safetensors"
python3 - "$OUT/demo-capture.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
meta = header.pop("__metadata__", {})
gen = [k for k in header if ".gen." in k and k.endswith("resid_post")]
print(f"{path}: {len(header)} tensors, layout {meta.get('layout_hash')}")
for name in sorted(header)[:6]:
    print(f"  {name:32s} {header[name]['dtype']} {header[name]['shape']}")
print(f"  ... ({len(gen)} decode-step resid_post tensors)")
PY
