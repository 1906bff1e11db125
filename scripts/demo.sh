#!/usr/bin/env bash
# The main job on the embedded defaults: installs what is missing, builds
# only what the demo runs (fnprobe, fnprobe-worker, fnprobe-inference,
# fnprobe-make-model and the libraries they link; the tests and benchmarks
# build in scripts/test.sh), and runs `fnprobe demo`: makes a tiny
# planted-response model (units that respond to known made-up words) if the
# work dir has none yet, starts fnprobe-inference and fnprobe-worker on free
# loopback ports, runs client/examples/planted-demo.json, prints network
# sizes by layer, the overlap matrix, repeatability and held-out
# identification, exports the results, ends with the planted truth beside
# what was found (precision and recall per condition, held-out accuracy
# against chance) and stops the servers.
#
#   bash scripts/demo.sh [WORK_DIR]      (default ./fnprobe-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-fnprobe-demo}
bash scripts/install-deps.sh
FNPROBE_TARGETS="fnprobe fnprobe-worker fnprobe-inference fnprobe-make-model" \
  bash scripts/build.sh
./build/client/fnprobe demo --work-dir "$WORK"
