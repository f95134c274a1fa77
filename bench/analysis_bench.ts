/**
 * Analysis benchmark (not a test): generate 1 M and 10 M instance rows as
 * sweep folders of Arrow IPC streams (10 runs, 5 images, 65,536-row record
 * batches, every schema column), then in fresh processes:
 *
 * - **goal steps**, once per engine (`auto`: what the analysis does by
 *   default; `arquero`: bins and summary forced onto arquero verbs): load
 *   the columns the analysis uses (ANALYSIS_COLUMNS), bin them, summarise
 *   them with the memory peak (memoryPeak is also timed alone, outside the
 *   total), correlate boot time with memory. Goal: 10 M
 *   rows in ≤ 3 s and ≤ 2 GB peak RSS. Both engines' bins and summary are
 *   hashed, so the table says whether they agree;
 * - **other steps** (no goal, up to `--other-max` rows): outliers, ecdf,
 *   timelineSegments, bootingOverTime, instancePhases and phaseSummary;
 * - **arquero's own loading** (`--skip-load-arquero` to skip): `aq.fromArrow`
 *   of each whole file, against loadSweep's column-projected reader;
 * - **quantile kernels** (`--skip-kernels` to skip): quantile.ts's selection
 *   against simple-statistics' `quantile` on the same values, in the shapes
 *   of the bins and the summary.
 *
 * Per step it reports wall and CPU time; per process the peak resident
 * memory (VmHWM, also right after loading) and the load average (other work
 * on the machine inflates wall time: compare CPU times and ratios within
 * one run).
 *
 * `deno run -A bench/analysis_bench.ts [--sizes 1000000,10000000] [--runs 10]
 * [--engines auto,arquero] [--other-max 1000000] [--out bench/results/NAME]
 * [--keep] [--dir DIR] [--skip-load-arquero] [--skip-kernels]` (`--dir`: reuse a folder kept by `--keep`, holding
 * `<rows>/` sweeps; `--out`: also write NAME.md and NAME.json).
 *
 * @module
 */

import "@uwdata/flechette";
import { tableFromIPC } from "@uwdata/flechette";
import * as aq from "arquero";
import * as ss from "simple-statistics";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cpuUsage } from "node:process";
import {
  ANALYSIS_COLUMNS,
  bootingOverTime,
  bootMemoryCorrelation,
  concurrencyBins,
  ecdf,
  instancePhases,
  loadSweep,
  memoryPeak,
  mulberry32,
  outliers,
  phaseSummary,
  summarize,
  type Table,
  timelineSegments,
  writeRunFolder,
} from "../mod.ts";
// The typed-array kernels of the analysis' fast path are internals on purpose; the "kernels" micro-benchmark times them alone.
import { equalsMask, groupKeys, numberColumn } from "../analysis/columns.ts";
import { quantilesInPlace, quantilesOfSlice } from "../analysis/quantile.ts";

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

function loadAverage(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

/** A short hash of a table's rows (same tables, same hash). */
async function digest(table: Table): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify(table.objects()));
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(h.slice(0, 6), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

type Engine = "auto" | "arquero";

/** Times `fn` (wall and CPU ms) into `out` under `name`. */
function timed<T>(out: Record<string, unknown>, name: string, fn: () => T): T {
  const c0 = cpuUsage();
  const t0 = performance.now();
  const result = fn();
  const cpu = cpuUsage(c0);
  out[`${name}_ms`] = performance.now() - t0;
  out[`${name}_cpu_ms`] = (cpu.user + cpu.system) / 1000;
  return result;
}

/** The goal steps: load, bin, summarise, correlate; timings, hashes, peak RSS. */
async function analyze(
  dir: string,
  engine: Engine,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { engine, load_average: loadAverage() };
  const c0 = cpuUsage();
  const t0 = performance.now();
  const l0 = performance.now();
  const set = await loadSweep(dir, { columns: ANALYSIS_COLUMNS });
  out.load_ms = performance.now() - l0;
  const lc = cpuUsage(c0);
  out.load_cpu_ms = (lc.user + lc.system) / 1000;
  out.peak_rss_after_load_mib = peakRssMiB();
  const bins = timed(
    out,
    "bins",
    () => concurrencyBins(set.instances, { width: 32, engine }),
  );
  const summary = timed(
    out,
    "summary",
    () => summarize(set.instances, { memory: set.memory, engine }),
  );
  const corr = timed(
    out,
    "correlate",
    () => bootMemoryCorrelation(summary, { seed: 1 }),
  );
  const cpu = cpuUsage(c0);
  out.total_ms = performance.now() - t0;
  out.cpu_ms = (cpu.user + cpu.system) / 1000;
  out.peak_rss_mib = peakRssMiB();
  // the part of the summary that is memoryPeak (timed again, not in the total)
  timed(out, "memory_peak", () => memoryPeak(set.memory, set.instances));
  out.rows = set.instances.numRows();
  out.runs = set.runs.length;
  out.bins = bins.numRows();
  out.correlation_rows = corr.numRows();
  out.bins_hash = await digest(bins);
  out.summary_hash = await digest(summary);
  out.load_average_end = loadAverage();
  return out;
}

/**
 * Loading the same instance columns with arquero's own Arrow reader: each
 * run's instances.arrow read whole, decoded by flechette, the
 * ANALYSIS_COLUMNS taken with `aq.fromArrow`, the runs concatenated (no
 * run.json, no checks: less than loadSweep does).
 */
async function loadArquero(dir: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { load_average: loadAverage() };
  const c0 = cpuUsage();
  const t0 = performance.now();
  const tables: Table[] = [];
  for (
    const e of [...Deno.readDirSync(dir)].sort((a, b) =>
      a.name < b.name ? -1 : 1
    )
  ) {
    const bytes = await Deno.readFile(join(dir, e.name, "instances.arrow"));
    const arrow = tableFromIPC(bytes);
    const columns = arrow.schema.fields.map((f) => f.name)
      .filter((n) => ANALYSIS_COLUMNS.includes(n));
    // arquero bundles its own flechette: same data, another type identity
    const input = arrow as unknown as Parameters<typeof aq.fromArrow>[0];
    tables.push(aq.fromArrow(input, { columns }));
  }
  const all = tables[0].concat(...tables.slice(1));
  const cpu = cpuUsage(c0);
  out.rows = all.numRows();
  out.load_ms = performance.now() - t0;
  out.load_cpu_ms = (cpu.user + cpu.system) / 1000;
  out.peak_rss_mib = peakRssMiB();
  out.load_average_end = loadAverage();
  return out;
}

/** The other steps (no goal): timings and peak RSS. */
async function other(dir: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { load_average: loadAverage() };
  const set = await loadSweep(dir, { columns: ANALYSIS_COLUMNS });
  const t = set.instances;
  out.rows = t.numRows();
  timed(out, "outliers", () => outliers(t));
  timed(out, "ecdf", () => ecdf(t));
  timed(out, "timeline_segments", () => timelineSegments(t));
  timed(out, "booting_over_time", () => bootingOverTime(t));
  const phases = timed(out, "instance_phases", () => instancePhases(t));
  timed(out, "phase_summary", () => phaseSummary(phases));
  out.peak_rss_mib = peakRssMiB();
  out.load_average_end = loadAverage();
  return out;
}

/**
 * The quantile kernel of the typed fast path (quantile.ts) against
 * simple-statistics' `quantile` on the same values, in the two shapes the
 * goal steps use: the summary's (one contiguous slice per run, ready rows,
 * 3 probabilities) and the bins' (the ready values of each (run, 32-wide
 * bin), 5 probabilities). Median CPU ms of `repeats` passes; whether both
 * give the same numbers.
 */
async function kernels(dir: string, repeats = 5) {
  const out: Record<string, unknown> = { load_average: loadAverage() };
  const set = await loadSweep(dir, { columns: ANALYSIS_COLUMNS });
  const t = set.instances;
  out.rows = t.numRows();
  const boot = numberColumn(t, "boot_ms");
  const ready = equalsMask(t, "outcome", "ready");
  const runs = groupKeys(t, "run_id");
  const conc = numberColumn(t, "concurrency_at_start");
  // summary shape: [start, end) of each run
  const slices: [number, number][] = [];
  for (let i = 0; i < runs.codes.length; i++) {
    if (i === 0 || runs.codes[i] !== runs.codes[i - 1]) slices.push([i, i]);
    slices[slices.length - 1][1] = i + 1;
  }
  // bins shape: the ready values of each (run, bin)
  const parts = new Map<string, number[]>();
  for (let i = 0; i < boot.length; i++) {
    if (!ready[i] || boot[i] !== boot[i]) continue;
    const k = `${runs.codes[i]}:${Math.floor(conc[i] / 32)}`;
    let p = parts.get(k);
    if (!p) parts.set(k, p = []);
    p.push(boot[i]);
  }
  const packed = [...parts.values()].map((p) => Float64Array.from(p));
  out.summary_groups = slices.length;
  out.bins_groups = packed.length;
  const S = [0.5, 0.9, 0.99];
  const B = [0.25, 0.5, 0.75, 0.9, 0.99];
  const cpuOf = (fn: () => unknown): [number, unknown] => {
    const times: number[] = [];
    let result: unknown;
    for (let r = 0; r < repeats; r++) {
      const c0 = cpuUsage();
      result = fn();
      const c = cpuUsage(c0);
      times.push((c.user + c.system) / 1000);
    }
    times.sort((a, b) => a - b);
    return [times[Math.floor(times.length / 2)], result];
  };
  const [sOwn, sOwnQ] = cpuOf(() =>
    slices.map(([start, end]) =>
      quantilesOfSlice(boot, S, { start, end, keep: ready }).q
    )
  );
  const [sSs, sSsQ] = cpuOf(() =>
    slices.map(([start, end]) => {
      const v = new Float64Array(end - start);
      let n = 0;
      for (let i = start; i < end; i++) {
        if (ready[i] && boot[i] === boot[i]) v[n++] = boot[i];
      }
      return ss.quantile(v.subarray(0, n) as unknown as number[], S);
    })
  );
  const [bOwn, bOwnQ] = cpuOf(() =>
    packed.map((p) => quantilesInPlace(p.slice(), B))
  );
  const [bSs, bSsQ] = cpuOf(() =>
    packed.map((p) => ss.quantile(p as unknown as number[], B))
  );
  out.summary_own_cpu_ms = sOwn;
  out.summary_ss_cpu_ms = sSs;
  out.bins_own_cpu_ms = bOwn;
  out.bins_ss_cpu_ms = bSs;
  out.same = JSON.stringify(sOwnQ) === JSON.stringify(sSsQ) &&
    JSON.stringify(bOwnQ) === JSON.stringify(bSsQ);
  out.load_average_end = loadAverage();
  return out;
}

async function self(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--max-old-space-size=8192",
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

const r0 = (x: unknown) => Math.round(x as number);
const s2 = (x: unknown) => ((x as number) / 1000).toFixed(2);

/** The results as Markdown tables. */
function markdown(
  meta: Record<string, unknown>,
  goal: Record<string, unknown>[],
  rest: Record<string, unknown>[],
  kern: Record<string, unknown>[],
  loads: Record<string, unknown>[],
): string {
  const lines = [
    `# Analysis benchmark, ${meta.date}`,
    "",
    `${meta.host}. Command: \`${meta.command}\`. Each row is a fresh process` +
    " (peak RSS = its VmHWM). Other jobs share the machine: compare CPU" +
    " times and ratios within one run, not absolute wall times.",
    "",
    "Goal steps (goal: 10 M rows, load + bins + summary + correlate ≤ 3 s, ≤ 2 GB):",
    "",
    "| rows | engine | load s (CPU) | bins s (CPU) | summary s (CPU) | of which memoryPeak s | correlate s | total s | CPU s | peak RSS MiB (after load) | load avg | bins / summary hash |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ...goal.map((r) =>
      `| ${r.rows} | ${r.engine} | ${s2(r.load_ms)} (${s2(r.load_cpu_ms)}) | ${
        s2(r.bins_ms)
      } (${s2(r.bins_cpu_ms)}) | ${s2(r.summary_ms)} (${
        s2(r.summary_cpu_ms)
      }) | ${r.memory_peak_ms === undefined ? "–" : s2(r.memory_peak_ms)} | ${
        s2(r.correlate_ms)
      } | ${s2(r.total_ms)} | ${s2(r.cpu_ms)} | ${r0(r.peak_rss_mib)} (${
        r0(r.peak_rss_after_load_mib)
      }) | ${r.load_average}–${r.load_average_end} | ${r.bins_hash} / ${r.summary_hash} |`
    ),
  ];
  if (rest.length) {
    lines.push(
      "",
      "Other steps (no goal; arquero verbs):",
      "",
      "| rows | outliers s (CPU) | ecdf s (CPU) | timelineSegments s (CPU) | bootingOverTime s (CPU) | instancePhases s (CPU) | phaseSummary s (CPU) | peak RSS MiB | load avg |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...rest.map((r) =>
        `| ${r.rows} | ${
          [
            "outliers",
            "ecdf",
            "timeline_segments",
            "booting_over_time",
            "instance_phases",
            "phase_summary",
          ].map((k) => `${s2(r[`${k}_ms`])} (${s2(r[`${k}_cpu_ms`])})`)
            .join(" | ")
        } | ${r0(r.peak_rss_mib)} | ${r.load_average}–${r.load_average_end} |`
      ),
    );
  }
  if (loads.length) {
    lines.push(
      "",
      "Loading the same columns with arquero's own Arrow reader (`aq.fromArrow` of each whole file, concatenated; compare with the load column above, which is loadSweep's column-projected reader):",
      "",
      "| rows | load s | CPU s | peak RSS MiB | load avg |",
      "|---:|---:|---:|---:|---:|",
      ...loads.map((r) =>
        `| ${r.rows} | ${s2(r.load_ms)} | ${s2(r.load_cpu_ms)} | ${
          r0(r.peak_rss_mib)
        } | ${r.load_average}–${r.load_average_end} |`
      ),
    );
  }
  if (kern.length) {
    lines.push(
      "",
      "Quantile kernels of the typed path (median CPU ms of 5 passes over the same values): quantile.ts's selection vs simple-statistics `quantile`:",
      "",
      "| rows | summary shape: groups | quantile.ts | simple-statistics | bins shape: groups | quantile.ts | simple-statistics | same numbers | load avg |",
      "|---:|---:|---:|---:|---:|---:|---:|---|---:|",
      ...kern.map((r) =>
        `| ${r.rows} | ${r.summary_groups} | ${r0(r.summary_own_cpu_ms)} | ${
          r0(r.summary_ss_cpu_ms)
        } | ${r.bins_groups} | ${r0(r.bins_own_cpu_ms)} | ${
          r0(r.bins_ss_cpu_ms)
        } | ${
          r.same ? "yes" : "no"
        } | ${r.load_average}–${r.load_average_end} |`
      ),
    );
  }
  return lines.join("\n") + "\n";
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      phase: { type: "string" },
      dir: { type: "string" },
      rows: { type: "string" },
      engine: { type: "string", default: "auto" },
      runs: { type: "string", default: "10" },
      sizes: { type: "string", default: "1000000,10000000" },
      engines: { type: "string", default: "auto,arquero" },
      "other-max": { type: "string", default: "1000000" },
      out: { type: "string" },
      keep: { type: "boolean", default: false },
      "skip-kernels": { type: "boolean", default: false },
      "skip-load-arquero": { type: "boolean", default: false },
    },
  });
  if (values.phase === "generate") {
    await generate(values.dir!, Number(values.rows), Number(values.runs));
  } else if (values.phase === "analyze") {
    const engine = values.engine as Engine;
    console.log(JSON.stringify(await analyze(values.dir!, engine)));
  } else if (values.phase === "other") {
    console.log(JSON.stringify(await other(values.dir!)));
  } else if (values.phase === "load-arquero") {
    console.log(JSON.stringify(await loadArquero(values.dir!)));
  } else if (values.phase === "kernels") {
    console.log(JSON.stringify(await kernels(values.dir!)));
  } else {
    const goal: Record<string, unknown>[] = [];
    const rest: Record<string, unknown>[] = [];
    const kern: Record<string, unknown>[] = [];
    const loads: Record<string, unknown>[] = [];
    const root = values.dir ??
      await Deno.makeTempDir({ prefix: "bootstorm_bench_" });
    const meta = {
      date: new Date().toISOString(),
      host: `${navigator.hardwareConcurrency} cores, ${
        Math.round(Deno.systemMemoryInfo().total / 2 ** 30)
      } GiB, Deno ${Deno.version.deno}`,
      command: `deno run -A bench/analysis_bench.ts ${Deno.args.join(" ")}`
        .trim(),
    };
    try {
      for (const size of values.sizes.split(",").map(Number)) {
        const dir = join(root, String(size));
        let generateS: number | null = null;
        try {
          await Deno.stat(dir);
        } catch {
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
          generateS = Math.round((performance.now() - g0) / 100) / 10;
        }
        const arrowMib = Math.round(await dirBytes(dir) / 2 ** 20);
        for (const engine of values.engines.split(",")) {
          const r = JSON.parse(
            await self([
              "--phase",
              "analyze",
              "--dir",
              dir,
              "--engine",
              engine,
            ]),
          );
          goal.push({ ...r, arrow_mib: arrowMib, generate_s: generateS });
          console.error(`${size} rows, ${engine}: ${JSON.stringify(r)}`);
        }
        if (!values["skip-load-arquero"]) {
          const r = JSON.parse(
            await self(["--phase", "load-arquero", "--dir", dir]),
          );
          loads.push(r);
          console.error(`${size} rows, arquero load: ${JSON.stringify(r)}`);
        }
        if (!values["skip-kernels"]) {
          const r = JSON.parse(
            await self(["--phase", "kernels", "--dir", dir]),
          );
          kern.push(r);
          console.error(`${size} rows, quantile kernels: ${JSON.stringify(r)}`);
        }
        if (size <= Number(values["other-max"])) {
          const r = JSON.parse(await self(["--phase", "other", "--dir", dir]));
          rest.push(r);
          console.error(`${size} rows, other steps: ${JSON.stringify(r)}`);
        }
      }
    } finally {
      if (values.keep || values.dir) console.error(`kept ${root}`);
      else await Deno.remove(root, { recursive: true });
    }
    console.table(goal.map((r) => ({
      rows: r.rows,
      engine: r.engine,
      "load ms": r0(r.load_ms),
      "bins ms": r0(r.bins_ms),
      "summary ms": r0(r.summary_ms),
      "correlate ms": r0(r.correlate_ms),
      "total ms": r0(r.total_ms),
      "CPU ms": r0(r.cpu_ms),
      "peak RSS MiB": r0(r.peak_rss_mib),
      "loadavg": r.load_average,
      "bins/summary hash": `${r.bins_hash}/${r.summary_hash}`,
    })));
    const md = markdown(meta, goal, rest, kern, loads);
    console.log(md);
    if (values.out) {
      Deno.writeTextFileSync(`${values.out}.md`, md);
      Deno.writeTextFileSync(
        `${values.out}.json`,
        JSON.stringify(
          { ...meta, goal, other: rest, kernels: kern, arquero_load: loads },
          null,
          2,
        ) +
          "\n",
      );
    }
  }
}
