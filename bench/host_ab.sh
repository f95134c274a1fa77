#!/bin/bash
# Host A/B: N back-to-back minkernel-microvm storms, alternating the C harness
# (bench/build/harness, built by the benchmarks) and the launcher CLI, and for
# each storm: median boot_ms, the CPU its QEMU processes used (a cgroup v1
# cpuacct group they join through a one-line shell in front of QEMU, the same
# on both sides), the machine's steal time and the context switches.
# Needs root (cgroup v1 cpuacct). Findings: bench/results/findings-2026-12-02-b.md.
#
#   bench/host_ab.sh [N=64] [ROUNDS=4]
#   WARM=1 bench/host_ab.sh 64 6          # touch N x 64 MiB before each storm
#   LARGS="--memory-source off" bench/host_ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-64}; R=${2:-4}
CG=/sys/fs/cgroup/cpuacct/bootstorm-host-ab
mkdir -p "$CG"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"; rmdir "$CG" 2>/dev/null || true' EXIT
JOIN='echo $$ > '"$CG"'/cgroup.procs; exec "$0" "$@"'
python3 - "$TMP/p.json" "$JOIN" <<'P'
import json, sys
p = json.load(open("images/profiles/minkernel-microvm.json"))
p["name"] = "minkernel-microvm-cpuacct"
p["image"] = __import__("os").path.abspath("build/minkernel/minkernel.elf")
p["argv"] = ["/bin/sh", "-c", sys.argv[2]] + p["argv"]
json.dump(p, open(sys.argv[1], "w"))
P
Q=(qemu-system-x86_64 -accel tcg -M microvm -nodefaults -no-user-config -display none -serial stdio -m 50 -smp 1 -kernel build/minkernel/minkernel.elf)
settle() { while pgrep -x qemu-system-x86 >/dev/null; do sleep 0.05; done; sleep 1; }
steal() { awk '/^cpu /{print $9*10}' /proc/stat; }
ctxt() { awk '/^ctxt/{print $2}' /proc/stat; }
cpu() { echo $(( $(cat $CG/cpuacct.usage) / 1000000 )); }
median() { python3 -c "
import csv,sys;r=sorted(float(x['boot_ms']) for x in csv.DictReader(open(sys.argv[1])) if x['boot_ms']);print(round(r[len(r)//2]))" "$1"; }
run() {
  settle
  if [ -n "${WARM:-}" ]; then python3 -c "b=b'\x01'*($N*64<<20)"; fi
  local s0 c0 x0 m; s0=$(steal); c0=$(cpu); x0=$(ctxt)
  if [ "$1" = C ]; then
    bench/build/harness -n "$N" -r Hello -o "$TMP/h.csv" -- /bin/sh -c "$JOIN" "${Q[@]}" 2>/dev/null
    m=$(median "$TMP/h.csv")
  else
    rm -rf "$TMP/runs"
    # shellcheck disable=SC2086
    deno run -A --v8-flags=--no-concurrent-recompilation,--no-concurrent-osr cli/sweep.ts \
      --image "$TMP/p.json" --count "$N" --accel tcg --grace 0 --back-to-back ${LARGS:-} \
      --out "$TMP/runs" >/dev/null 2>&1
    m=$(median "$(find "$TMP/runs" -name instances.csv | head -1)")
  fi
  local x1; x1=$(ctxt); settle
  echo "$1 median_boot_ms $m qemu_cpu_ms $(( $(cpu) - c0 )) steal_ms $(( $(steal) - s0 )) ctxt $(( x1 - x0 ))"
}
for r in $(seq "$R"); do
  if [ $((r % 2)) = 1 ]; then run C; run launcher; else run launcher; run C; fi
done
