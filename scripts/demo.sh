#!/usr/bin/env bash
# The main job on the embedded defaults: installs what is missing, builds,
# and runs `fnprobe demo`: makes the demo model (deterministic random weights
# in the Hugging Face layout) if it is not there yet, starts fnprobe-inference
# and fnprobe-worker on free loopback ports, runs the small version of the
# paper's experiment (client/examples/nencka2023-small.json), prints network
# sizes by layer, the overlap matrix, repeatability and held-out
# identification, exports the results and stops the servers.
#
#   bash scripts/demo.sh [WORK_DIR]      (default ./fnprobe-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-fnprobe-demo}
bash scripts/install-deps.sh
bash scripts/build.sh
./build/client/fnprobe demo --work-dir "$WORK"
