"""Write the small fixed dataset of the figure tests (run once; the output is committed).

Synthetic but shaped like real runs: four runs of 8 instances (minkernel
back-to-back and every 5 ms, a LibOS and a Linux back-to-back), each with
run.json, instances.csv and memory.csv in the launcher's schema (version 2).
Deterministic: a fixed linear congruential generator, no clock.
Usage: python3 make_fixture.py   (from this folder)
"""
import json, os

state = 12345
def rnd():
    global state
    state = (1103515245 * state + 12345) % 2**31
    return state / 2**31

RUNS = [
    # run_id, profile, class, pattern, interval, boot base ms, per-concurrency ms, rss KiB, mem per instance KiB
    ("20240101T000000Z-aaaa01", "minkernel", "baseline", "back-to-back", 0, 500, 20, 42000, 12000),
    ("20240101T000100Z-aaaa02", "minkernel", "baseline", "interval", 5, 480, 15, 42100, 11800),
    ("20240101T000200Z-aaaa03", "osv", "libos", "back-to-back", 0, 2400, 120, 90000, 30000),
    ("20240101T000300Z-aaaa04", "debian-linux", "linux", "back-to-back", 0, 9000, 400, 260000, 140000),
]
N = 8
COLS = ["instance","scheduled_ms","t_s_ms","first_output_ms","ready_ms","exit_ms","boot_end_ms","boot_ms",
        "first_output_boot_ms","concurrency_at_start","outcome","exit_code","signal","rss_peak_kib","output_bytes","pid",
        "vmm_ready_ms","t_k_ms","vmm_init_ms","guest_boot_ms","error"]

def fmt(v):
    if v is None: return ""
    if isinstance(v, float): return repr(round(v, 3))
    return str(v)

for (rid, name, cls, kind, interval, base, slope, rss, per) in RUNS:
    os.makedirs(rid, exist_ok=True)
    ts, ends = [], []
    rows = []
    for i in range(N):
        t_s = i * interval + rnd() * 2 if kind == "interval" else i * 3.0 + rnd()
        conc = sum(1 for a, b in zip(ts, ends) if a <= t_s < b)
        boot = base + slope * conc + rnd() * base * 0.1
        failed = name == "debian-linux" and i == 7
        ready = None if failed else t_s + boot
        end = t_s + (12000.0 if failed else boot)
        first = t_s + boot * (0.3 if cls == "linux" else 0.98)
        ts.append(t_s); ends.append(end)
        rows.append({
            "instance": i, "scheduled_ms": float(i * interval) if kind == "interval" else None,
            "t_s_ms": t_s, "first_output_ms": first, "ready_ms": ready, "exit_ms": end + 30.0,
            "boot_end_ms": end, "boot_ms": None if failed else boot,
            "first_output_boot_ms": first - t_s, "concurrency_at_start": conc,
            "outcome": "timeout" if failed else "ready", "exit_code": None,
            "signal": "SIGTERM", "rss_peak_kib": rss + int(rnd() * 500), "output_bytes": 6.0,
            "pid": 1000 + i, "vmm_ready_ms": None, "t_k_ms": None, "vmm_init_ms": None, "guest_boot_ms": None,
            "error": "no ready line before 12000 ms" if failed else None,
        })
    with open(f"{rid}/instances.csv", "w") as f:
        f.write(",".join(COLS) + "\n")
        for r in rows: f.write(",".join(fmt(r[c]) for c in COLS) + "\n")
    last = max(ends)
    with open(f"{rid}/memory.csv", "w") as f:
        f.write("t_ms,used_kib,booting\n")
        t = -20.0
        while t <= last + 50:
            booting = sum(1 for a, b in zip(ts, ends) if a <= t < b)
            f.write(f"{fmt(t)},{fmt(float(600000 + booting * per + int(rnd() * 800)))},{booting}\n")
            t += (last + 70) / 40
    record = {
        "schema_version": 2, "run_id": rid, "status": "complete",
        "started_at": "2024-01-01T00:00:00.000Z", "finished_at": "2024-01-01T00:00:30.000Z",
        "host": {"cpu_model": "Fixture CPU", "cores": 2, "mem_total_kib": 24000000, "kernel": "6.1.0", "hostname": "fixture"},
        "accelerator": {"kind": "tcg", "reason": "fixture"},
        "qemu": {"path": "/usr/bin/qemu-system-x86_64", "version": "7.2.0"},
        "profile": {"name": name, "class": cls, "path": f"images/profiles/{name}.json"},
        "image": {"path": f"build/{name}.elf", "sha256": "0" * 64, "bytes": 4096},
        "argv": ["qemu-system-x86_64", "-accel", "tcg", "-kernel", f"build/{name}.elf"],
        "params": {}, "pattern": {"kind": kind, "interval_ms": interval},
        "count": N, "timeout_ms": 12000, "teardown": "kill-after-ready",
        "toolkit": {"version": "0.1.0", "git_commit": "fixture"}, "deno": {"version": "2.9.6"},
        "memory_sampler": {"target_hz": 2000, "achieved_hz": 2000, "samples": 41, "worst_gap_ms": 1},
        "totals": {"ready": sum(1 for r in rows if r["outcome"] == "ready"), "failed": sum(1 for r in rows if r["outcome"] != "ready")},
    }
    with open(f"{rid}/run.json", "w") as f:
        json.dump(record, f, indent=2); f.write("\n")
