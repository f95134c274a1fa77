/**
 * Analysis benchmark (not a test): generate 1 M and 10 M instance rows as
 * sweep folders of Arrow IPC streams (10 runs, 5 images, 65,536-row record
 * batches, every schema column), then in a fresh process load them (the
 * columns the analysis uses: ANALYSIS_COLUMNS), bin them, summarise them and
 * correlate boot time with memory; report wall and CPU time per step, the
 * process's peak resident memory (VmHWM) and the load average (other work
 * on the machine inflates wall time). Goal: 10 M rows in ≤ 3 s and ≤ 2 GB.
 *
 * `deno run -A bench/analysis_bench.ts [--sizes 1000000,10000000] [--runs 10] [--keep]`
 *
 * @module
 */

import "@uwdata/flechette";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cpuUsage } from "node:process";
import {
  ANALYSIS_COLUMNS,
  bootMemoryCorrelation,
  concurrencyBins,
  loadSweep,
  mulberry32,
  summarize,
} from "../analysis/mod.ts";
import { writeRunFolder } from "../tests/testdata/analysis/write_run.ts";

const IMAGES = [
  { image: "minkernel", cls: "baseline", base: 150, rss: 40000 },
  { image: "synth-64", cls: "libos", base: 280, rss: 105000 },
  { image: "synth-256", cls: "libos", base: 660, rss: 300000 },
  { image: "osv-like", cls: "libos", base: 900, rss: 180000 },
  { image: "linux", cls: "linux", base: 3400, rss: 130000 },
];

/** Write `runs` run folders with `rows` instance rows in total. */
async function generate(
  dir: string,
  rows: number,
  runs: number,
): Promise<void> {
  const rand = mulberry32(1);
  for (let r = 0; r < runs; r++) {
    const kind = IMAGES[r % IMAGES.length];
    const m = Math.floor(rows / runs) + (r < rows % runs ? 1 : 0);
    const instance = new Int32Array(m);
    const ts = new Float64Array(m);
    const first = new Float64Array(m);
    const ready = new Float64Array(m);
    const exit = new Float64Array(m);
    const end = new Float64Array(m);
    const boot = new Float64Array(m);
    const firstBoot = new Float64Array(m);
    const conc = new Int32Array(m);
    const rss = new Int32Array(m);
    const outBytes = new Float64Array(m);
    const pid = new Int32Array(m);
    const scheduled = new Float64Array(m).fill(NaN);
    const exitCode = new Float64Array(m).fill(NaN);
    const outcome = new Array<string>(m);
    const signal = new Array<string | null>(m);
    const error = new Array<string | null>(m).fill(null);
    for (let i = 0; i < m; i++) {
      const c = Math.floor(rand() * 1280);
      const ok = rand() > 0.01;
      const b = (kind.base + 2 * c) * (0.9 + 0.2 * rand());
      instance[i] = i;
      ts[i] = i * 0.5;
      conc[i] = c;
      rss[i] = Math.round(kind.rss * (0.98 + 0.04 * rand()));
      outBytes[i] = 6;
      pid[i] = 1000 + (i % 30000);
      outcome[i] = ok ? "ready" : "timeout";
      signal[i] = "SIGKILL";
      first[i] = ok ? ts[i] + b * 0.98 : NaN;
      firstBoot[i] = ok ? b * 0.98 : NaN;
      ready[i] = ok ? ts[i] + b : NaN;
      boot[i] = ok ? b : NaN;
      end[i] = ok ? ts[i] + b : ts[i] + 30000;
      exit[i] = end[i] + 1;
      if (!ok) error[i] = "timed out";
    }
    const samples = 10000;
    const t = new Float64Array(samples);
    const used = new Float64Array(samples);
    const booting = new Int32Array(samples);
    for (let s = 0; s < samples; s++) {
      t[s] = s * 5;
      const load = Math.sin((Math.PI * s) / samples);
      booting[s] = Math.round(1280 * load);
      used[s] = 2_000_000 + booting[s] * kind.rss * 0.5;
    }
    const runId = `${kind.image}-${r}`;
    await writeRunFolder(join(dir, runId), {
      record: {
        run_id: runId,
        count: m,
        profile: {
          name: kind.image,
          class: kind.cls,
          path: `images/profiles/${kind.image}.json`,
        },
      },
      instances: {
        instance,
        scheduled_ms: scheduled,
        t_s_ms: ts,
        first_output_ms: first,
        ready_ms: ready,
        exit_ms: exit,
        boot_end_ms: end,
        boot_ms: boot,
        first_output_boot_ms: firstBoot,
        concurrency_at_start: conc,
        outcome,
        exit_code: exitCode,
        signal,
        rss_peak_kib: rss,
        output_bytes: outBytes,
        pid,
        error,
      },
      memory: { t_ms: t, used_kib: used, booting },
    }, { batchRows: 65536, csv: false });
  }
}

function peakRssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kib / 1024;
}

/** Load, bin, summarise, correlate; return timings (ms) and peak RSS (MiB). */
async function analyze(dir: string): Promise<Record<string, number>> {
  const c0 = cpuUsage();
  const t0 = performance.now();
  const set = await loadSweep(dir, { columns: ANALYSIS_COLUMNS });
  const t1 = performance.now();
  const bins = concurrencyBins(set.instances, { width: 32 });
  const t2 = performance.now();
  const summary = summarize(set.instances, { memory: set.memory });
  const t3 = performance.now();
  const corr = bootMemoryCorrelation(summary, { seed: 1 });
  const t4 = performance.now();
  const cpu = cpuUsage(c0);
  return {
    rows: set.instances.numRows(),
    runs: set.runs.length,
    bins: bins.numRows(),
    correlation_rows: corr.numRows(),
    load_ms: t1 - t0,
    bins_ms: t2 - t1,
    summary_ms: t3 - t2,
    correlate_ms: t4 - t3,
    total_ms: t4 - t0,
    cpu_ms: (cpu.user + cpu.system) / 1000,
    peak_rss_mib: peakRssMiB(),
    load_average: Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]),
  };
}

async function self(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--max-old-space-size=4096",
      import.meta.filename!,
      ...args,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) {
    throw new Error(`bench step ${args.join(" ")} failed (exit ${out.code})`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    total += e.isDirectory ? await dirBytes(p) : (await Deno.stat(p)).size;
  }
  return total;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      phase: { type: "string" },
      dir: { type: "string" },
      rows: { type: "string" },
      runs: { type: "string", default: "10" },
      sizes: { type: "string", default: "1000000,10000000" },
      keep: { type: "boolean", default: false },
    },
  });
  if (values.phase === "generate") {
    await generate(values.dir!, Number(values.rows), Number(values.runs));
  } else if (values.phase === "analyze") {
    console.log(JSON.stringify(await analyze(values.dir!)));
  } else {
    const results: Record<string, number | string>[] = [];
    for (const size of values.sizes.split(",").map(Number)) {
      const dir = await Deno.makeTempDir({ prefix: "bootstorm_bench_" });
      try {
        const g0 = performance.now();
        await self([
          "--phase",
          "generate",
          "--dir",
          dir,
          "--rows",
          String(size),
          "--runs",
          values.runs,
        ]);
        const genMs = performance.now() - g0;
        const bytes = await dirBytes(dir);
        const r = JSON.parse(await self(["--phase", "analyze", "--dir", dir]));
        results.push({
          ...r,
          arrow_mib: Math.round(bytes / 2 ** 20),
          generate_s: Math.round(genMs / 100) / 10,
        });
        console.error(`${size} rows: ${JSON.stringify(results.at(-1))}`);
      } finally {
        if (values.keep) console.error(`kept ${dir}`);
        else await Deno.remove(dir, { recursive: true });
      }
    }
    console.table(results.map((r) => ({
      rows: r.rows,
      "arrow MiB": r.arrow_mib,
      "load ms": Math.round(r.load_ms as number),
      "bins ms": Math.round(r.bins_ms as number),
      "summary ms": Math.round(r.summary_ms as number),
      "correlate ms": Math.round(r.correlate_ms as number),
      "total ms": Math.round(r.total_ms as number),
      "CPU ms": Math.round(r.cpu_ms as number),
      "peak RSS MiB": Math.round(r.peak_rss_mib as number),
      "loadavg": r.load_average,
    })));
  }
}
