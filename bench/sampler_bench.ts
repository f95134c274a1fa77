/**
 * Memory sampler costs, idle (no storm): for each sampler (the Deno worker
 * reading /proc/meminfo; the C sampler reading a per-run cgroup every tick
 * and /proc/meminfo every 20th; the C sampler on /proc/meminfo every tick)
 * and rate, the achieved samples/s, the worst gap and the sampler's own CPU
 * as a share of one core; and the floor: a C loop that only sleeps on the
 * same absolute schedule (what one timer wake-up costs on this host).
 * Prints Markdown; writes `bench/results/sampler-<date>.md`.
 *
 * ```sh
 * deno run -A bench/sampler_bench.ts [--seconds 5]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { execa } from "execa";
import { join } from "node:path";
// The memory samplers and the run cgroup are launcher internals (runBatch drives them); this micro-benchmark times them alone.
import { startMemorySampler } from "../launcher/memory_sampler.ts";
import { startCSampler } from "../launcher/sampler/c_sampler.ts";
import {
  createRunCgroup,
  removeRunCgroup,
} from "../launcher/sampler/run_cgroup.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { seconds: { type: "string", default: "5" } },
});
const seconds = Number(values.seconds);
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A C loop that sleeps on an absolute schedule and reports its CPU. */
async function floor(hz: number): Promise<{ cpu: number }> {
  const dir = await Deno.makeTempDir();
  const src = join(dir, "w.c");
  await Deno.writeTextFile(
    src,
    `#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int c, char **v) {
  long ns = atol(v[1]); int n = atoi(v[2]); struct timespec nx;
  clock_gettime(CLOCK_MONOTONIC, &nx);
  for (int i = 0; i < n; i++) {
    nx.tv_nsec += ns; while (nx.tv_nsec >= 1000000000L) { nx.tv_nsec -= 1000000000L; nx.tv_sec++; }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &nx, NULL);
  }
  struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  printf("%f\\n", t.tv_sec * 1e3 + t.tv_nsec / 1e6);
}
`,
  );
  const bin = join(dir, "w");
  const cc = await execa("gcc", ["-O2", "-o", bin, src], {
    reject: false,
    stdin: "ignore",
  });
  if (cc.failed) {
    const lines = String(cc.stderr).split("\n").filter((l) => l.trim());
    throw new Error(
      `gcc failed: \`gcc -O2 -o ${bin} ${src}\` ${
        cc.exitCode === undefined
          ? `could not start (${cc.originalMessage})`
          : `exited ${cc.exitCode}`
      }${
        lines.length
          ? `: ${lines[0]}${lines.length > 1 ? ` … ${lines.at(-1)}` : ""}`
          : ""
      }. Install gcc and libc6-dev (apt-get install -y gcc libc6-dev).`,
    );
  }
  // Stays on Deno.Command: this is the measured workload (its CPU time is the result).
  const out = await new Deno.Command(bin, {
    args: [String(Math.round(1e9 / hz)), String(Math.round(hz * seconds))],
    stdout: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  return {
    cpu: Number(new TextDecoder().decode(out.stdout)) / (seconds * 1000),
  };
}

/** CPU of this process's threads, ms (for the worker sampler). */
function selfCpuMs(): number {
  let ns = 0;
  for (const t of Deno.readDirSync("/proc/self/task")) {
    const s = Deno.readTextFileSync(`/proc/self/task/${t.name}/schedstat`);
    ns += Number(s.split(" ")[0]);
  }
  return ns / 1e6;
}

const rows: string[] = [
  `# Memory sampler costs, idle (${new Date().toISOString()}, load average ${
    Deno.loadavg().map((x) => x.toFixed(1)).join(" ")
  }, ${seconds} s each)`,
  "",
  "| sampler | target /s | achieved /s | worst gap ms | CPU, % of one core |",
  "|---|---|---|---|---|",
];
const line = (
  name: string,
  hz: number,
  a: number,
  gap: number | null,
  cpu: number,
) => {
  rows.push(
    `| ${name} | ${hz} | ${a.toFixed(0)} | ${
      gap === null ? "–" : gap.toFixed(2)
    } | ${(cpu * 100).toFixed(2)} |`,
  );
  console.error(rows[rows.length - 1]);
};

for (const hz of [2000, 1000, 500]) {
  const f = await floor(hz);
  line(`floor: C sleep loop only`, hz, hz, null, f.cpu);
}
{
  const idle0 = selfCpuMs();
  await wait(seconds * 1000);
  const idle = (selfCpuMs() - idle0) / (seconds * 1000);
  const c0 = selfCpuMs();
  const s = startMemorySampler({ intervalMs: 0.5, onSamples: () => {} });
  await wait(seconds * 1000);
  // Read before stop(): a terminated worker's thread leaves /proc/self/task.
  const cpu = (selfCpuMs() - c0) / (seconds * 1000) - idle;
  const st = await s.stop();
  line(
    "Deno worker, /proc/meminfo every tick (SCHED_FIFO)",
    2000,
    st.achieved_hz,
    st.worst_gap_ms,
    cpu,
  );
}
const cg = createRunCgroup(`bench-${Deno.pid}`);
for (const hz of [2000, 1000]) {
  for (
    const [name, opts] of [
      ["C sampler, cgroup every tick + /proc/meminfo every 20th", {
        cgroup: true,
        meminfoEvery: 20,
      }],
      ["C sampler, /proc/meminfo every tick", {
        cgroup: false,
        meminfoEvery: 1,
      }],
    ] as const
  ) {
    if (opts.cgroup && typeof cg === "string") continue;
    const s = await startCSampler({
      intervalMs: 1000 / hz,
      cgroupUsageFile: opts.cgroup && typeof cg !== "string"
        ? cg.usageFile
        : null,
      meminfoEvery: opts.meminfoEvery,
      onSamples: () => {},
    });
    await wait(seconds * 1000);
    const st = await s.stop();
    line(
      name,
      hz,
      st.achieved_hz,
      st.worst_gap_ms,
      st.cpu_share_of_one_core ?? NaN,
    );
  }
}
if (typeof cg !== "string") removeRunCgroup(cg);
else rows.push("", `(no per-run cgroup: ${cg})`);
const md = rows.join("\n") + "\n";
console.log(md);
const out = join(
  new URL("./results/", import.meta.url).pathname,
  `sampler-${new Date().toISOString().slice(0, 10)}.md`,
);
await Deno.writeTextFile(out, md);
console.error(`wrote ${out}`);
