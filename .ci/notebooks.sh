#!/usr/bin/env bash
# CI helper: install Debian's Jupyter and the figure font, then execute every
# notebook headless with the Deno kernel (deno task notebooks). Exits non-zero
# when a cell fails. Run from anywhere; called by .ci/run.
#   DENO: the deno command (default "npx -y deno@2.9.6"); the kernel is installed
#         for the deno binary that runs cli/notebooks.ts.
set -uo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive NO_COLOR=1
DENO=${DENO:-"npx -y deno@2.9.6"}
pkgs="jupyter-notebook jupyter-nbconvert python3-ipykernel jupyter-client fonts-dejavu-core"
echo "ci: installing Debian packages ($pkgs)"
if ! /usr/bin/python3 -c "import jupyter_client, nbformat" 2>/dev/null || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  (apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $pkgs >/dev/null) \
    || echo "ci: apt-get failed; deno task notebooks will say what is missing"
fi
# The notebooks read $BOOTSTORM_DATA, else the newest data/sweeps/* (git-ignored):
# on a fresh clone, measure a small real sweep first (about 15 s under TCG).
if [ -z "${BOOTSTORM_DATA:-}" ] && ! ls -d data/sweeps/*/ >/dev/null 2>&1; then
  echo "ci: no dataset; measuring a small sweep (minkernel-microvm, minkernel; N=8,16; back-to-back, 5 ms; TCG)"
  $DENO task sweep --image minkernel-microvm --image minkernel --count 8 --count 16 \
    --back-to-back --interval 5 --accel tcg >/dev/null || { echo "ci: the sweep failed"; exit 1; }
fi
echo "ci: $DENO task notebooks"
$DENO task notebooks
