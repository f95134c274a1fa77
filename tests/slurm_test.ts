/**
 * Multi-host storms on a real local 3-node Slurm cluster (Debian's
 * slurm-wlm, one network namespace per node), started and stopped here:
 * storms through `deno task sweep --slurm` as a user runs it, injected
 * clock offsets, a node that dies mid-storm, scancel, a node without the
 * image, and a clean teardown. Skipped (with the reason printed) when
 * Slurm cannot be installed or namespaces are unavailable.
 */
import assert from "node:assert/strict";
import { execa } from "execa";
import { join } from "node:path";
import { ensureMinkernel } from "../images/build.ts";
import { ensureDebianPackages } from "../images/deps.ts";
import { loadRun, loadRuns } from "../analysis/load.ts";
import { writeFigures, writeReport } from "../analysis/write_figures.ts";
import { hostSummary } from "../analysis/hosts.ts";
import {
  clusterDown,
  clusterLeftovers,
  clusterUp,
  crashNode,
  SLURM_PACKAGES,
} from "../slurm/cluster.ts";
import { namespaceOf } from "../slurm/cluster_config.ts";
import { mergeStorm } from "../slurm/merge.ts";
import type { AgentRecord } from "../slurm/agent.ts";
import { ROOT } from "./helpers.ts";

async function unavailable(): Promise<string | null> {
  if (Deno.uid() !== 0) {
    return "not root (namespaces, a bridge and cgroups need root)";
  }
  const ns = await execa("unshare", ["--net", "--mount", "--uts", "true"], {
    reject: false,
  });
  if (ns.exitCode !== 0) {
    return `namespaces unavailable (unshare: ${String(ns.stderr).trim()})`;
  }
  try {
    Deno.statSync("/sys/fs/cgroup/freezer");
  } catch {
    return "no cgroup v1 freezer hierarchy at /sys/fs/cgroup/freezer (proctrack/cgroup needs it)";
  }
  try {
    await ensureDebianPackages([...SLURM_PACKAGES], {
      why: "run the Slurm tests",
    });
  } catch (e) {
    return `Slurm cannot be installed: ${(e as Error).message}`;
  }
  return null;
}

const SKIP = await unavailable();
if (SKIP) console.error(`slurm_test.ts: skipped: ${SKIP}`);
else await ensureMinkernel();
const ignore = SKIP !== null;
const CLI = join(ROOT, "cli/sweep.ts");
const SWEEP_FLAGS = [
  "--v8-flags=--no-concurrent-recompilation,--no-concurrent-osr",
];

async function sweep(
  args: string[],
  options: {
    env?: Record<string, string>;
    onStart?: (out: string) => Promise<void>;
  } = {},
) {
  const out = await Deno.makeTempDir({ prefix: "bootstorm-storm-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...SWEEP_FLAGS, CLI, "--slurm", ...args, "--out", out],
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
  let failed: unknown = null;
  const during = options.onStart?.(out).catch((e) => {
    failed = e;
    child.kill("SIGINT"); // the submitter cancels its job
  });
  const r = await child.output();
  await during;
  if (failed) throw failed;
  const dec = new TextDecoder();
  const stdout = dec.decode(r.stdout), stderr = dec.decode(r.stderr);
  return {
    code: r.code,
    stdout,
    stderr,
    dir: stdout.trim().split("\n").pop() ?? "",
    out,
  };
}

function stormDir(out: string): string | null {
  try {
    const d = [...Deno.readDirSync(out)].find((e) => e.isDirectory);
    return d ? join(out, d.name) : null;
  } catch {
    return null;
  }
}

function agent(dir: string, host: string): AgentRecord | null {
  try {
    return JSON.parse(
      Deno.readTextFileSync(join(dir, "nodes", host, "agent.json")),
    );
  } catch {
    return null;
  }
}

/** Wait until `host` of the storm under `out` has taken T_0, plus `afterMs`. */
async function whenStarted(
  out: string,
  host: string,
  afterMs: number,
  timeoutMs = 60000,
) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const d = stormDir(out);
    if (d && agent(d, host)?.state === "started") {
      await new Promise((r) => setTimeout(r, afterMs));
      return d;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${host} never started under ${out}`);
}

async function namespaceComms(node: string): Promise<string[]> {
  const r = await execa("ip", ["netns", "pids", namespaceOf(node)], {
    reject: false,
  });
  const out: string[] = [];
  for (const p of String(r.stdout).split(/\s+/).filter(Boolean)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${p}/stat`);
      if (stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z") continue;
      out.push(Deno.readTextFileSync(`/proc/${p}/comm`).trim());
    } catch {
      // gone
    }
  }
  return out;
}

const NODES = ["node1", "node2", "node3"];

Deno.test({
  name:
    "clusterUp() brings up a 3-node cluster from Debian's packages, idempotently",
  ignore,
  fn: async () => {
    const lines: string[] = [];
    const info = await clusterUp({ nodes: 3, log: (l) => lines.push(l) });
    assert.deepEqual(Object.keys(info.nodeStates).sort(), NODES);
    const again: string[] = [];
    const t = performance.now();
    await clusterUp({ log: (l) => again.push(l) });
    assert.ok(
      again.some((l) => /slurmd -N node3 .*already running/.test(l)),
      again.join("\n"),
    );
    assert.ok(performance.now() - t < 30000);
    const r = await execa("srun", ["-N3", "hostname"], {
      env: info.env,
      reject: false,
    });
    assert.equal(r.exitCode, 0, String(r.stderr));
    assert.deepEqual(
      String(r.stdout).split("\n").sort(),
      NODES,
      "each node is its own host",
    );
    const routes = await execa("ip", ["-n", namespaceOf("node1"), "route"], {
      reject: false,
    });
    assert.doesNotMatch(
      String(routes.stdout),
      /default/,
      "no default route in a node",
    );
  },
});

for (const pattern of [["--back-to-back"], ["--interval", "5"]]) {
  Deno.test({
    name: `sweep --slurm boots 3 × 16 minkernels ${
      pattern.join(" ")
    }: 48 ready, 3 hosts, start skew reported, merge reproducible`,
    ignore,
    fn: async () => {
      const r = await sweep([
        "--nodes",
        "3",
        "--image",
        "minkernel-microvm",
        "--count",
        "16",
        ...pattern,
        "--accel",
        "tcg",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /start skew between hosts: \d+\.\d+ ms/);
      const run = await loadRun(r.dir);
      assert.equal(run.record.status, "complete");
      assert.equal(run.instances.numRows(), 48);
      const outcomes = run.instances.array("outcome") as string[];
      assert.equal(outcomes.filter((o) => o === "ready").length, 48);
      const hosts = new Set(run.instances.array("host") as string[]);
      assert.deepEqual([...hosts].sort(), NODES);
      const mh = run.record.multi_host as {
        skew: { start_skew_ms: number; start_skew_same_clock_ms: number };
        hosts: { clock_uncertainty_ms: number }[];
      };
      assert.equal(typeof mh.skew.start_skew_ms, "number");
      assert.equal(
        typeof mh.skew.start_skew_same_clock_ms,
        "number",
        "one kernel: the true skew is known",
      );
      for (const h of mh.hosts) assert.ok(h.clock_uncertainty_ms > 0);
      // Inside a node (its own cpu cgroup) the launcher still gets SCHED_FIFO for its timing threads.
      for (const n of NODES) {
        const a = agent(r.dir, n)!;
        const rec = JSON.parse(
          Deno.readTextFileSync(
            join(r.dir, "nodes", n, a.run_dir!, "run.json"),
          ),
        );
        assert.equal(
          rec.release_thread?.realtime,
          true,
          `${n}: ${rec.release_thread?.warning}`,
        );
        assert.equal(rec.memory_sampler?.realtime, true, n);
      }
      const s = hostSummary(run.instances).objects() as {
        host: string;
        ready: number;
      }[];
      assert.deepEqual(s.map((x) => [x.host, x.ready]), [
        ["node1", 16],
        ["node2", 16],
        ["node3", 16],
        ["all", 48],
      ]);
      if (pattern[0] === "--back-to-back") {
        // analyze, figures and report handle a multi-host run.
        const an = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            join(ROOT, "cli/analyze.ts"),
            r.dir,
            "--width",
            "4",
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(an.stdout);
        assert.equal(an.code, 0, new TextDecoder().decode(an.stderr));
        for (
          const re of [
            /## Per host of /,
            /slowest host: node\d/,
            /start skew between hosts: \d/,
            /## Concurrency bins per host/,
            /## Recovery curve/,
          ]
        ) {
          assert.match(text, re);
        }
        const figs = await writeFigures(r.dir, { png: false });
        const names = figs.figures.map((f) => f.name);
        assert.ok(
          names.includes(`hosts-${run.record.run_id}`) &&
            names.includes(`recovery-${run.record.run_id}`),
          names.join(","),
        );
        const host = figs.figures.find((f) => f.name.startsWith("hosts-"))!.svg;
        for (const n of NODES) assert.ok(host.includes(`>${n}<`), n);
        const rep = await writeReport(r.dir, {
          set: await loadRuns(r.dir),
          figures: figs.figures,
        });
        assert.match(
          Deno.readTextFileSync(rep.out),
          /<h2 id="hosts">Hosts<\/h2>[\s\S]*Slowest host: <b>node\d<\/b>/,
        );
        for (const f of ["figures", "report.html"]) {
          await Deno.remove(join(r.dir, f), { recursive: true });
        }
      }
      // The merge is reproducible from the node runs alone.
      const files = [
        "instances.arrow",
        "instances.csv",
        "memory.arrow",
        "hosts.csv",
        "run.json",
      ];
      const before = files.map((f) => Deno.readFileSync(join(r.dir, f)));
      await mergeStorm(r.dir);
      files.forEach((f, i) =>
        assert.deepEqual(Deno.readFileSync(join(r.dir, f)), before[i], f)
      );
      await Deno.remove(r.out, { recursive: true });
    },
  });
}

Deno.test({
  name:
    "sweep --slurm corrects injected clock offsets: every node still starts at the one T_0",
  ignore,
  fn: async () => {
    const injected = [0, 250, -400];
    const r = await sweep([
      "--nodes",
      "3",
      "--image",
      "minkernel-microvm",
      "--count",
      "8",
      "--back-to-back",
      "--accel",
      "tcg",
      "--inject-clock-offset",
      injected.join(","),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const starts: number[] = [];
    for (const [rank, host] of NODES.entries()) {
      const a = agent(r.dir, host)!;
      assert.equal(a.rank, rank);
      const off = a.clock.before!;
      // measured: submitter clock − node clock = −injected, within the uncertainty (+ 1 ms for a loaded machine)
      assert.ok(
        Math.abs(off.offset_ms + injected[rank]) <= off.uncertainty_ms + 1,
        `${host}: ${off.offset_ms} vs ${-injected[rank]}`,
      );
      // All nodes share one kernel here, so their monotonic clocks can be compared directly:
      const rows =
        (await loadRun(join(r.dir, "nodes", host, a.run_dir!))).instances;
      const ts = (rows.array("t_s_ms") as number[]).filter((x) => x !== null);
      starts.push(a.t0!.local.node_monotonic_ms + Math.min(...ts));
    }
    const spread = Math.max(...starts) - Math.min(...starts);
    // Uncorrected, the nodes would start 650 ms apart.
    assert.ok(spread < 650 / 10, `true start spread ${spread} ms`);
    const run = await loadRun(r.dir);
    const skew =
      (run.record.multi_host as { skew: { start_skew_same_clock_ms: number } })
        .skew;
    assert.ok(
      Math.abs(skew.start_skew_same_clock_ms - spread) < 5,
      `${skew.start_skew_same_clock_ms} vs ${spread}`,
    );
    await Deno.remove(r.out, { recursive: true });
  },
});

Deno.test({
  name:
    "sweep --slurm records a node killed mid-storm as lost with the reason, keeps the others, marks the dataset partial",
  ignore,
  fn: async () => {
    try {
      const r = await sweep(
        [
          "--nodes",
          "3",
          "--image",
          "minkernel-microvm",
          "--count",
          "20",
          "--interval",
          "200",
          "--accel",
          "tcg",
        ],
        {
          onStart: async (out) => {
            const d = await whenStarted(out, "node2", 0);
            // Crash once node2 has written a few rows (under load boots are slow).
            const a = () => agent(d, "node2");
            const until = Date.now() + 60000;
            while (Date.now() < until) {
              try {
                const csv = Deno.readTextFileSync(
                  join(
                    d,
                    "nodes",
                    "node2",
                    [...Deno.readDirSync(join(d, "nodes", "node2"))].find((e) =>
                      e.isDirectory
                    )!.name,
                    "instances.csv",
                  ),
                );
                if (csv.trim().split("\n").length >= 4) break;
              } catch {
                // not there yet
              }
              await new Promise((res) => setTimeout(res, 50));
            }
            assert.equal(a()?.state, "started");
            const killed = await crashNode("node2");
            assert.ok(killed.length > 0);
          },
        },
      );
      assert.equal(r.code, 1, r.stderr);
      const run = await loadRun(r.dir);
      assert.equal(run.record.status, "partial");
      const rows = run.instances.objects() as {
        host: string;
        outcome: string;
        error: string | null;
      }[];
      for (const h of ["node1", "node3"]) {
        assert.equal(
          rows.filter((x) => x.host === h && x.outcome === "ready").length,
          20,
          h,
        );
      }
      const lost = rows.filter((x) =>
        x.host === "node2" && x.outcome === "lost"
      );
      assert.ok(
        lost.length > 0 && lost.length < 20,
        `${lost.length} lost; node2's outcomes: ${
          JSON.stringify(
            rows.filter((x) => x.host === "node2").map((x) => x.outcome),
          )
        }`,
      );
      assert.match(
        lost[0].error!,
        /node2 stopped reporting .* after T_0 \(Slurm: node DOWN/,
      );
      assert.ok(
        rows.filter((x) => x.host === "node2" && x.outcome === "ready").length >
          0,
        "rows written before the crash are kept",
      );
      assert.deepEqual(
        await namespaceComms("node2"),
        [],
        "nothing survives on the dead node",
      );
      await Deno.remove(r.out, { recursive: true });
    } finally {
      await clusterUp({ log: () => {} }); // bring node2 back
    }
  },
});

Deno.test({
  name: "scancel of a storm's job reaps every QEMU on every node",
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const base = JSON.parse(
      Deno.readTextFileSync(
        join(ROOT, "images/profiles/minkernel-microvm.json"),
      ),
    );
    const hold = join(dir, "hold.json");
    Deno.writeTextFileSync(
      hold,
      JSON.stringify({
        ...base,
        name: "minkernel-hold",
        image: join(ROOT, "build/minkernel/minkernel.elf"),
        // booted guests keep running (a halted minkernel never exits) until their timeout
        teardown: "wait-exit",
        timeoutMs: 120000,
      }),
    );
    const env = { SLURM_CONF: "/run/bootstorm-cluster/etc/slurm.conf" };
    let qemusBefore = 0;
    const t0 = performance.now();
    const r = await sweep([
      "--nodes",
      "3",
      "--image",
      hold,
      "--count",
      "6",
      "--back-to-back",
      "--accel",
      "tcg",
    ], {
      onStart: async (out) => {
        const d = await whenStarted(out, "node3", 1500);
        for (const n of NODES) {
          qemusBefore += (await namespaceComms(n)).filter((c) =>
            c.startsWith("qemu")
          ).length;
        }
        const job =
          JSON.parse(Deno.readTextFileSync(join(d, "storm.json"))).slurm.job_id;
        const s = await execa("scancel", [job], { env, reject: false });
        assert.equal(s.exitCode, 0, String(s.stderr));
      },
    });
    assert.equal(qemusBefore, 18, "every guest was alive before scancel");
    assert.equal(r.code, 130, r.stderr);
    for (const n of NODES) {
      const left = (await namespaceComms(n)).filter((c) => c !== "slurmd");
      assert.deepEqual(left, [], `${n}: ${left.join(", ")}`);
    }
    const run = await loadRun(r.dir);
    assert.equal(run.record.status, "partial");
    const outcomes = run.instances.array("outcome") as string[];
    assert.equal(outcomes.length, 18);
    assert.ok(
      outcomes.every((o) => o === "ready" || o === "interrupted"),
      outcomes.join(","),
    );
    assert.ok(
      performance.now() - t0 < 120000,
      "the guests' 120 s timeout did not have to run out",
    );
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(r.out, { recursive: true });
  },
});

Deno.test({
  name: "sweep --slurm refuses before T_0 when a node cannot see the image",
  ignore,
  fn: async () => {
    const share = await Deno.makeTempDir({ prefix: "bootstorm-img-" });
    const profDir = await Deno.makeTempDir();
    Deno.copyFileSync(
      join(ROOT, "build/minkernel/minkernel.elf"),
      join(share, "minkernel.elf"),
    );
    const base = JSON.parse(
      Deno.readTextFileSync(
        join(ROOT, "images/profiles/minkernel-microvm.json"),
      ),
    );
    const prof = join(profDir, "p.json");
    Deno.writeTextFileSync(
      prof,
      JSON.stringify({
        ...base,
        name: "minkernel-shared",
        image: join(share, "minkernel.elf"),
      }),
    );
    // On node3 only, an empty filesystem hides the folder (its own mount namespace).
    const slurmd = Deno.readTextFileSync(
      "/run/bootstorm-cluster/run/slurmd-node3.pid",
    ).trim();
    const m = await execa("nsenter", [
      "-t",
      slurmd,
      "-m",
      "mount",
      "-t",
      "tmpfs",
      "none",
      share,
    ], { reject: false });
    assert.equal(m.exitCode, 0, String(m.stderr));
    try {
      const r = await sweep([
        "--nodes",
        "3",
        "--image",
        prof,
        "--count",
        "4",
        "--back-to-back",
        "--accel",
        "tcg",
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /refused before T_0, nothing was started\): node3: image not found at .*minkernel\.elf on node3; the image must be on a filesystem every node sees/,
      );
      const d = stormDir(r.out)!;
      for (const n of NODES) {
        const runs = [...Deno.readDirSync(join(d, "nodes", n))].filter((e) =>
          e.isDirectory
        );
        assert.deepEqual(runs, [], `${n} started nothing`);
        assert.equal(agent(d, n)?.state, "refused");
      }
      await Deno.remove(r.out, { recursive: true });
    } finally {
      await execa("nsenter", ["-t", slurmd, "-m", "umount", share], {
        reject: false,
      });
      await Deno.remove(share, { recursive: true });
      await Deno.remove(profDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "sweep --slurm names the fix for an unknown partition and for missing Slurm commands",
  ignore,
  fn: async () => {
    const r = await sweep(["--partition", "nosuch", "--count", "2"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /no such partition; pass --partition with one of storm/,
    );
    const bare = await sweep(["--count", "2"], {
      env: { PATH: "/nonexistent" },
    });
    assert.equal(bare.code, 2);
    assert.match(
      bare.stderr,
      /sbatch.*not found on PATH.*deno task cluster up/,
    );
  },
});

Deno.test({
  name:
    "clusterDown() leaves no daemon, namespace, bridge, cgroup or config file behind",
  ignore,
  fn: async () => {
    const before = await clusterLeftovers(
      (await clusterUp({ log: () => {} })).plan,
    );
    assert.ok(before.processes.length >= 4 && before.namespaces.length === 4);
    const left = await clusterDown({ log: () => {} });
    assert.deepEqual(left, {
      processes: [],
      namespaces: [],
      links: [],
      cgroups: [],
      files: [],
    });
  },
});
