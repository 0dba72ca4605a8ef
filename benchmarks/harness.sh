#!/usr/bin/env bash
# Times of the test harness: warm `make setup`, test-image build from nothing, one molecule
# scenario. Prints one "name: seconds" line each. Rebuilds the image: run it when ~1 min of
# debootstrap is acceptable. Usage: benchmarks/harness.sh [scenario]
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-base}

t() { local start=$SECONDS; "$@" >/dev/null 2>&1; echo $((SECONDS - start)); }

echo "make setup (warm): $(t make setup)s"
echo "test image build (FORCE=1): $(FORCE=1 t scripts/build-test-image.sh)s"
echo "test image build (present): $(t scripts/build-test-image.sh)s"
echo "molecule test -s $scenario: $(t make molecule S="$scenario")s"
