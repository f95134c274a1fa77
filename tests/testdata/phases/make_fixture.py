"""Write the small fixed datasets of the phase tests (run once; the output is committed).

v2/: four runs of schema version 2 with hand-picked round numbers, so that the
phase medians can be checked by hand (tests/analysis_phases_test.ts):
  bbbb01 minkernel, phase mode (T_K), no marks, N=4;
  bbbb02 alpine-linux, phase mode, marks kernel/init, N=4, instance 3 timed out;
  bbbb03 alpine-linux without phase mode (no T_K), marks kernel/init, N=2;
  bbbb04 minkernel without phase mode and without marks (no phase data), N=2.
v1/: one run of schema version 1 (no phase-mode columns at all), N=2.
Only instances.csv, memory.csv and run.json; mark columns follow the schema's
columns, as the launcher writes them. Usage: python3 make_fixture.py (from this folder)
"""
import json, os

V1 = ["instance","scheduled_ms","t_s_ms","first_output_ms","ready_ms","exit_ms","boot_end_ms","boot_ms",
      "first_output_boot_ms","concurrency_at_start","outcome","exit_code","signal","rss_peak_kib","output_bytes","pid",
      "error"]
V2 = V1[:-1] + ["vmm_ready_ms","t_k_ms","vmm_init_ms","guest_boot_ms","error"]

def fmt(v):
    if v is None: return ""
    if isinstance(v, float): return repr(round(v, 3))
    return str(v)

# (t_s, vmm_ready, t_k, first_output, kernel, init, ready, concurrency); None = never
RUNS = [
    ("v2", "20240201T000000Z-bbbb01", "minkernel", "baseline", True, {}, [
        (1.0, 40.0, 51.0, 81.0, None, None, 201.0, 0),
        (2.0, 50.0, 62.0, 102.0, None, None, 242.0, 1),
        (3.0, 60.0, 73.0, 113.0, None, None, 273.0, 2),
        (4.0, 70.0, 84.0, 134.0, None, None, 314.0, 3),
    ]),
    ("v2", "20240201T000100Z-bbbb02", "alpine-linux", "linux", True,
     {"kernel": "Linux version", "init": "Run /init as init process"}, [
        (1.0, 150.0, 201.0, 1201.0, 1201.0, 5201.0, 6201.0, 0),
        (2.0, 250.0, 302.0, 1302.0, 1302.0, 6302.0, 7802.0, 1),
        (3.0, 200.0, 253.0, 1453.0, 1460.0, 6453.0, 7453.0, 2),
        (4.0, 350.0, 404.0, 1404.0, 1404.0, None, None, 3),
    ]),
    ("v2", "20240201T000200Z-bbbb03", "alpine-linux", "linux", False,
     {"kernel": "Linux version", "init": "Run /init as init process"}, [
        (1.0, None, None, 1501.0, 1501.0, 5501.0, 6501.0, 0),
        (2.0, None, None, 1602.0, 1602.0, 6602.0, 7102.0, 1),
    ]),
    ("v2", "20240201T000300Z-bbbb04", "minkernel", "baseline", False, {}, [
        (1.0, None, None, 401.0, None, None, 501.0, 0),
        (2.0, None, None, 452.0, None, None, 552.0, 1),
    ]),
    ("v1", "20230101T000000Z-cccc01", "minkernel", "baseline", False, {}, [
        (1.0, None, None, 401.0, None, None, 501.0, 0),
        (2.0, None, None, 452.0, None, None, 552.0, 1),
    ]),
]
TIMEOUT = 20000.0

for (folder, rid, name, cls, phases, marks, rows) in RUNS:
    d = os.path.join(folder, rid)
    os.makedirs(d, exist_ok=True)
    version = 1 if folder == "v1" else 2
    cols = (V1 if version == 1 else V2) + [f"{m}_ms" for m in marks]
    out = []
    for i, (ts, vmm, tk, fo, kern, init, ready, conc) in enumerate(rows):
        end = ready if ready is not None else ts + TIMEOUT
        row = {
            "instance": i, "scheduled_ms": None, "t_s_ms": ts, "first_output_ms": fo, "ready_ms": ready,
            "exit_ms": end + 5.0, "boot_end_ms": end, "boot_ms": None if ready is None else ready - ts,
            "first_output_boot_ms": fo - ts, "concurrency_at_start": conc,
            "outcome": "ready" if ready is not None else "timeout", "exit_code": None, "signal": "SIGTERM",
            "rss_peak_kib": 40000 + i, "output_bytes": 100.0, "pid": 2000 + i,
            "vmm_ready_ms": vmm, "t_k_ms": tk, "vmm_init_ms": None if tk is None else tk - ts,
            "guest_boot_ms": None if tk is None or ready is None else ready - tk,
            "error": None if ready is not None else "no ready line before 20000 ms",
            "kernel_ms": kern, "init_ms": init,
        }
        out.append(row)
    with open(os.path.join(d, "instances.csv"), "w") as f:
        f.write(",".join(cols) + "\n")
        for r in out: f.write(",".join(fmt(r[c]) for c in cols) + "\n")
    last = max((r["boot_end_ms"] for r in out))
    with open(os.path.join(d, "memory.csv"), "w") as f:
        f.write("t_ms,used_kib,booting\n")
        for k in range(5):
            t = last * k / 4
            booting = sum(1 for r in out if r["t_s_ms"] <= t < r["boot_end_ms"])
            f.write(f"{fmt(t)},{fmt(500000.0 + 1000.0 * booting)},{booting}\n")
    record = {
        "schema_version": version, "run_id": rid, "status": "complete",
        "started_at": "2024-02-01T00:00:00.000Z", "finished_at": "2024-02-01T00:00:30.000Z",
        "host": {"cpu_model": "Fixture CPU", "cores": 2, "mem_total_kib": 24000000, "kernel": "6.1.0", "hostname": "fixture"},
        "accelerator": {"kind": "tcg", "reason": "fixture"},
        "qemu": {"path": "/usr/bin/qemu-system-x86_64", "version": "7.2.0"},
        "profile": {"name": name, "class": cls, "path": f"images/profiles/{name}.json"},
        "image": {"path": f"build/{name}.elf", "sha256": "0" * 64, "bytes": 4096},
        "argv": ["qemu-system-x86_64", "-accel", "tcg", "-kernel", f"build/{name}.elf"],
        "params": {}, "pattern": {"kind": "back-to-back"},
        "count": len(rows), "timeout_ms": TIMEOUT, "teardown": "kill-after-ready",
        "toolkit": {"version": "0.1.0", "git_commit": "fixture"}, "deno": {"version": "2.9.6"},
        "memory_sampler": {"target_hz": 2000, "achieved_hz": 2000, "samples": 5, "worst_gap_ms": 1},
        "totals": {"ready": sum(1 for r in out if r["outcome"] == "ready"),
                   "failed": sum(1 for r in out if r["outcome"] != "ready")},
    }
    if version == 2:
        record["marks"] = marks
        record["phases"] = phases
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump(record, f, indent=2); f.write("\n")
