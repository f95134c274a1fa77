/**
 * `deno task sweep`: the shell front end. One cell runs as a single batch
 * (run folder under data/runs/); a grid, a plan file or no arguments run a
 * sweep (sweep folder under data/sweeps/).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { type Accelerator, chooseAccelerator } from "./accel.ts";
import { assertOutDir } from "./dataset_writer.ts";
import { ensureDebianPackages } from "./deps.ts";
import { ensureImage } from "./images.ts";
import { ensureOpenFiles } from "./limits.ts";
import { type Pattern, patternLabel } from "./pattern.ts";
import {
  loadProfile,
  type Profile,
  ProfileError,
  resolveParams,
  withImageFile,
} from "./profile.ts";
import { runBatch } from "./run_batch.ts";
import { which } from "./runner.ts";
import type { InstanceRow } from "./schema.ts";
import { progressReporter } from "./progress.ts";
import { holdReaper } from "./reaper.ts";
import { medianOrNull, summaryText } from "./summary.ts";
import {
  knownCost,
  loadSweepState,
  newSweep,
  probeImage,
  runSweep,
  summarizeCell,
  type SweepState,
} from "./sweep.ts";
import {
  type Cell,
  chooseTimeout,
  defaultPlan,
  estimateCell,
  expandGrid,
  formatDuration,
  type Grid,
  type ImageCost,
  preflightCell,
  type TimeoutPlan,
} from "./sweep_plan.ts";
import { availableKib } from "./sweep.ts";
import { withoutProbes } from "../analysis/figures/dataset_figures.ts";
import {
  writeFigures,
  writeReport,
} from "../analysis/figures/write_figures.ts";
import { loadRuns } from "../analysis/load.ts";
import { fileURLToPath } from "node:url";
import { ensureInsnsPlugin, InsnsError, selfTestPlugin } from "./insns/mod.ts";

export const HELP =
  `deno task sweep — boot storms of virtual machines and write datasets

Usage:
  deno task sweep                                  the paper's two experiments, scaled to this host
  deno task sweep --image I --count N [pattern]    one batch → data/runs/<run-id>/
  deno task sweep [grid flags] [--repeat R]        a sweep → data/sweeps/<sweep-id>/
  deno task sweep --plan sweep.json                a sweep from a plan file
  deno task sweep --resume data/sweeps/<id>        continue a sweep, skipping finished cells

Grid (each flag may repeat; every combination is one cell = one run folder):
  --image NAME|PATH   profile name under images/profiles/ or a profile .json      [minkernel]
  --count N           instances per cell (whole number ≥ 1)                        [16]
  --interval MS       open loop: instance i released at T_0 + 2 ms + i·MS          [5 when no pattern]
  --back-to-back      start instances as fast as spawning allows
  --parallel P        closed loop: keep P instances booting
  --image-file PATH   boot this image file with the profile's argv (your own build), instead of the
                      profile's "image"; one --image only
  --param NAME=VALUE  profile param; the same NAME given again adds a value (a grid dimension)
  --repeat R          run every cell R times                                       [1]

Sweep:
  --plan FILE         plan file: {"images":[..],"counts":[..],"patterns":[{"kind":"back-to-back"}|{"kind":"interval","intervalMs":5}|{"kind":"parallel","parallelism":4}],"params":{"k":["v"]},"repeat":1} or {"cells":[{"image":..,"count":..,"pattern":{..},"params":{..}}]}
  --full              with no grid: the paper's sizes (storms 64 … 1280, Linux up to 512)
  --dry-run           print the plan with each cell's estimated time and peak memory; start nothing
  --resume DIR        continue the sweep in DIR without redoing finished cells
  --force             run cells (or a batch) the memory pre-flight refuses

Options:
  --timeout MS        per-instance boot timeout from T_s      [the profile's timeoutMs, or 3 × the estimate when longer]
  --out DIR           parent folder of the run / sweep folder                      [data/runs, data/sweeps]
  --accel MODE        auto | kvm | tcg                                             [auto: KVM when usable]
  --grace MS          SIGTERM → SIGKILL grace period when stopping instances       [1000]
  --spawn-mode MODE   direct | prestart (single batch only)                        [prestart for --interval]
  --phases            QEMU phase mode (single batch only): start paused (-S) with a QMP socket per
                      instance; records vmm_ready_ms, t_k_ms (T_K), vmm_init_ms, guest_boot_ms
  --insns             boot work (QEMU under TCG only; batch and sweep): load the project's TCG plugin into
                      every instance and record instructions to first output and to ready, firmware apart
                      (insns_* columns). Built on first use from Debian's qemu source package (needs gcc,
                      libglib2.0-dev). Refused with --accel kvm; auto then means TCG
  --insns-mem         --insns and also count guest memory accesses (mem_accesses_ready; slower)
  --slurm             a multi-host storm on Slurm: see deno task sweep --slurm --help
  -h, --help          this text

Output: progress on stderr; the run or sweep folder as the last line on stdout.
A batch's timeout follows its estimated duration (N × one boot / cores, from a
probe boot when the storm is large) and its pre-flight refuses a batch that
does not fit in memory, as a sweep's cells do; both are printed before it starts.
Ctrl-C stops cleanly: children reaped, finished cells kept, the current dataset
finalised and marked partial; resume with --resume. If the launcher itself is
killed (even with SIGKILL), every process it started is killed within a second.

Exit status:
  0    every batch (or cell) had at least one instance ready
  1    an error stopped the run (e.g. the disk filled up); the message says which
  2    a usage, profile or pre-flight error: nothing was started
  3    a batch, or a sweep cell, in which no instance became ready (stderr names the
       most common outcome and its first error line); also a sweep where every cell
       was refused by the pre-flight
  130  interrupted (Ctrl-C / SIGTERM): datasets finalised and marked partial

Examples:
  deno task sweep --image minkernel --count 64 --back-to-back
  deno task sweep --image minkernel --image synthetic --count 32 --count 64 --back-to-back --repeat 3
  deno task sweep --image minkernel --count 8 --back-to-back --insns
`;

/** A command-line mistake, reported without a stack trace. */
export class UsageError extends Error {}

/** Exit status of a run in which something asked for measured nothing (see HELP). */
export const EXIT_NOTHING_READY = 3;

/** Exit status after Ctrl-C / SIGTERM. */
export const EXIT_INTERRUPTED = 130;

/** What each option that takes a value expects, for "missing value" errors. */
const VALUE_HINTS: Record<string, string> = {
  image: "a profile name or a profile .json, e.g. --image minkernel",
  count: "a whole number ≥ 1, e.g. --count 16",
  interval: "milliseconds ≥ 0, e.g. --interval 5",
  parallel: "a whole number ≥ 1, e.g. --parallel 4",
  timeout: "milliseconds, e.g. --timeout 30000",
  out: "a folder, e.g. --out data/runs",
  accel: "auto, kvm or tcg, e.g. --accel tcg",
  param: "NAME=VALUE, e.g. --param mem_mib=64",
  grace: "milliseconds, e.g. --grace 1000",
  "spawn-mode": "direct or prestart",
  repeat: "a whole number ≥ 1, e.g. --repeat 3",
  plan: "a plan file, e.g. --plan sweep.json",
  resume: "a sweep folder, e.g. --resume data/sweeps/<id>",
};

/** Parsed command line of one batch. */
export interface BatchArgs {
  image: string;
  count: number;
  pattern: Pattern;
  timeoutMs?: number;
  out?: string;
  accel: "auto" | "kvm" | "tcg";
  params: Record<string, string>;
  graceMs?: number;
  spawnMode?: "direct" | "prestart";
  phases?: boolean;
  insns?: boolean | { mem: boolean };
  imageFile?: string;
  /** Run even when the memory pre-flight refuses the batch. */
  force?: boolean;
}

/** Parsed command line. */
export type Command =
  | { kind: "help" }
  | { kind: "batch"; batch: BatchArgs }
  | {
    kind: "sweep";
    cells: Cell[];
    note: string;
    accel: "auto" | "kvm" | "tcg";
    timeoutMs: number | null;
    out: string | null;
    dryRun: boolean;
    force: boolean;
    resume: string | null;
    insns: boolean | { mem: boolean };
    imageFile: string | null;
  };

function positiveNumber(
  flag: string,
  v: string | undefined,
  integer: boolean,
): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(
      `Invalid ${flag} ${JSON.stringify(v)}: expected a positive ${
        integer ? "whole number" : "number"
      }`,
    );
  }
  return n;
}

function parseArgsStrict(args: string[]) {
  return parseArgs({
    args,
    options: {
      image: { type: "string", multiple: true },
      count: { type: "string", multiple: true },
      interval: { type: "string", multiple: true },
      "back-to-back": { type: "boolean" },
      parallel: { type: "string", multiple: true },
      timeout: { type: "string" },
      out: { type: "string" },
      accel: { type: "string" },
      param: { type: "string", multiple: true },
      grace: { type: "string" },
      "spawn-mode": { type: "string" },
      repeat: { type: "string" },
      plan: { type: "string" },
      full: { type: "boolean" },
      "dry-run": { type: "boolean" },
      resume: { type: "string" },
      force: { type: "boolean" },
      phases: { type: "boolean" },
      insns: { type: "boolean" },
      "insns-mem": { type: "boolean" },
      "image-file": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
}

function parsePattern(p: unknown, where: string): Pattern {
  const o = p as Record<string, unknown>;
  if (o?.kind === "back-to-back") return { kind: "back-to-back" };
  if (
    o?.kind === "interval" && typeof o.intervalMs === "number" &&
    o.intervalMs > 0
  ) {
    return { kind: "interval", intervalMs: o.intervalMs };
  }
  if (
    o?.kind === "parallel" && Number.isInteger(o.parallelism) &&
    (o.parallelism as number) > 0
  ) {
    return { kind: "parallel", parallelism: o.parallelism as number };
  }
  throw new UsageError(
    `${where}: invalid pattern ${
      JSON.stringify(p)
    }; use {"kind":"back-to-back"}, {"kind":"interval","intervalMs":5} or {"kind":"parallel","parallelism":4}`,
  );
}

/** Cells of a plan file (grid form or explicit cells). */
export function planCells(raw: unknown, file: string): Cell[] {
  const o = raw as Record<string, unknown>;
  if (Array.isArray(o?.cells)) {
    return (o.cells as Record<string, unknown>[]).map((c, i) => {
      if (typeof c.image !== "string") {
        throw new UsageError(`${file}: cells[${i}].image must be a string`);
      }
      if (!Number.isInteger(c.count) || (c.count as number) < 1) {
        throw new UsageError(
          `${file}: cells[${i}].count must be a whole number ≥ 1`,
        );
      }
      return {
        id: `c${String(i + 1).padStart(2, "0")}`,
        image: c.image,
        count: c.count as number,
        pattern: parsePattern(
          c.pattern ?? { kind: "back-to-back" },
          `${file}: cells[${i}]`,
        ),
        params: Object.fromEntries(
          Object.entries(c.params ?? {}).map(([k, v]) => [k, String(v)]),
        ),
        repeat: 0,
      };
    });
  }
  if (!Array.isArray(o?.images) || !Array.isArray(o?.counts)) {
    throw new UsageError(
      `${file}: a plan needs "images" and "counts" arrays, or a "cells" array`,
    );
  }
  for (const c of o.counts as unknown[]) {
    if (!Number.isInteger(c) || (c as number) < 1) {
      throw new UsageError(`${file}: counts must be whole numbers ≥ 1`);
    }
  }
  const patterns = ((o.patterns as unknown[]) ?? [{ kind: "back-to-back" }])
    .map((p, i) => parsePattern(p, `${file}: patterns[${i}]`));
  const params: Record<string, string[]> = {};
  for (
    const [k, v] of Object.entries((o.params as Record<string, unknown>) ?? {})
  ) {
    params[k] = (Array.isArray(v) ? v : [v]).map(String);
  }
  return expandGrid({
    images: o.images as string[],
    counts: o.counts as number[],
    patterns,
    params,
    repeat: (o.repeat as number) ?? 1,
  });
}

/**
 * Parse the command line (pure, except reading a `--plan` file).
 *
 * @example
 * ```ts
 * import { parseCommand } from "./cli.ts";
 * const c = parseCommand(["--count", "4", "--back-to-back"]);
 * console.log(c.kind); // "batch"
 * ```
 */
export function parseCommand(args: string[]): Command {
  // Let "--interval -5" reach our own check instead of parseArgs' ambiguity error.
  const norm: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : "";
    if (
      name in VALUE_HINTS &&
      (args[i + 1] === undefined || /^--?[A-Za-z]/.test(args[i + 1]))
    ) {
      throw new UsageError(
        `Missing value for --${name}: expected ${VALUE_HINTS[name]}`,
      );
    }
    if (
      args[i].startsWith("--") && !args[i].includes("=") &&
      /^-\d/.test(args[i + 1] ?? "")
    ) {
      norm.push(`${args[i]}=${args[++i]}`);
    } else norm.push(args[i]);
  }
  let values;
  try {
    values = parseArgsStrict(norm).values;
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
  if (values.help) return { kind: "help" };
  const patterns: Pattern[] = [];
  for (const v of values.interval ?? []) {
    const ms = Number(v);
    if (!Number.isFinite(ms) || ms < 0) {
      throw new UsageError(
        `Invalid --interval ${JSON.stringify(v)}: expected milliseconds ≥ 0`,
      );
    }
    patterns.push(
      ms === 0
        ? { kind: "back-to-back" }
        : { kind: "interval", intervalMs: ms },
    );
  }
  if (values["back-to-back"]) patterns.push({ kind: "back-to-back" });
  for (const v of values.parallel ?? []) {
    patterns.push({
      kind: "parallel",
      parallelism: positiveNumber("--parallel", v, true)!,
    });
  }
  const accel = values.accel ?? "auto";
  if (!["auto", "kvm", "tcg"].includes(accel)) {
    throw new UsageError(
      `Invalid --accel ${JSON.stringify(accel)}: expected auto, kvm or tcg`,
    );
  }
  const spawnMode = values["spawn-mode"];
  if (
    spawnMode !== undefined && spawnMode !== "direct" &&
    spawnMode !== "prestart"
  ) {
    throw new UsageError(
      `Invalid --spawn-mode ${
        JSON.stringify(spawnMode)
      }: expected direct or prestart`,
    );
  }
  const params: Record<string, string[]> = {};
  for (const p of values.param ?? []) {
    const eq = p.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(
        `Invalid --param ${JSON.stringify(p)}: expected NAME=VALUE`,
      );
    }
    (params[p.slice(0, eq)] ??= []).push(p.slice(eq + 1));
  }
  const counts = (values.count ?? []).map((c) =>
    positiveNumber("--count", c, true)!
  );
  const repeat = positiveNumber("--repeat", values.repeat, true) ?? 1;
  const timeoutMs = positiveNumber("--timeout", values.timeout, false);
  const graceMs = positiveNumber("--grace", values.grace, false);
  const images = values.image ?? [];
  const grid = images.length + counts.length + patterns.length +
      Object.keys(params).length > 0;
  const sweepOpts = {
    accel: accel as "auto" | "kvm" | "tcg",
    timeoutMs: timeoutMs ?? null,
    out: values.out ?? null,
    dryRun: values["dry-run"] ?? false,
    force: values.force ?? false,
    insns: values["insns-mem"]
      ? { mem: true }
      : values.insns ?? false as boolean | { mem: boolean },
    imageFile: values["image-file"] ?? null,
  };
  if (sweepOpts.imageFile !== null && (values.image ?? []).length > 1) {
    throw new UsageError(
      "--image-file gives one image file: use it with a single --image (the profile whose argv boots it)",
    );
  }
  if (sweepOpts.insns && accel === "kvm") {
    throw new UsageError(
      "Cannot use --insns with --accel kvm: boot work is counted by a TCG plugin, which sees guest instructions only under TCG; use --accel tcg (or auto)",
    );
  }
  if (values.resume) {
    return {
      kind: "sweep",
      cells: [],
      note: "",
      ...sweepOpts,
      resume: values.resume,
    };
  }
  if (values.plan) {
    let raw: unknown;
    try {
      raw = JSON.parse(Deno.readTextFileSync(values.plan));
    } catch (e) {
      throw new UsageError(
        `Cannot read --plan ${values.plan}: ${(e as Error).message}`,
      );
    }
    const note = String(
      (raw as Record<string, unknown>)?.note ?? `Plan ${values.plan}`,
    );
    return {
      kind: "sweep",
      cells: planCells(raw, values.plan),
      note,
      ...sweepOpts,
      resume: null,
    };
  }
  if (!grid) {
    const plan = defaultPlan({ full: values.full });
    return {
      kind: "sweep",
      cells: plan.cells,
      note: plan.note,
      ...sweepOpts,
      resume: null,
    };
  }
  const g: Grid = {
    images: images.length ? images : ["minkernel"],
    counts: counts.length ? counts : [16],
    patterns: patterns.length
      ? patterns
      : [{ kind: "interval", intervalMs: 5 }],
    params,
    repeat,
  };
  const cells = expandGrid(g);
  if (cells.length === 1 && !sweepOpts.dryRun) {
    const c = cells[0];
    return {
      kind: "batch",
      batch: {
        image: c.image,
        count: c.count,
        pattern: c.pattern,
        timeoutMs,
        out: values.out,
        accel: sweepOpts.accel,
        params: c.params,
        graceMs,
        spawnMode: spawnMode as BatchArgs["spawnMode"],
        phases: values.phases ?? false,
        insns: sweepOpts.insns,
        imageFile: sweepOpts.imageFile ?? undefined,
        force: values.force ?? false,
      },
    };
  }
  return {
    kind: "sweep",
    cells,
    note: `Grid of ${cells.length} cells from the command line.`,
    ...sweepOpts,
    resume: null,
  };
}

/** Back-compat: parse a single batch (null for --help). */
export function parseBatchArgs(args: string[]): BatchArgs | null {
  const c = parseCommand(args.length ? args : ["--count", "16"]);
  if (c.kind === "help") return null;
  if (c.kind !== "batch") throw new UsageError("expected a single batch");
  return c.batch;
}

/** One line describing a finished batch. */
export function batchLine(
  name: string,
  pattern: Pattern,
  rows: InstanceRow[],
): string {
  const ready = rows.filter((r) => r.outcome === "ready");
  const boots = ready.map((r) => r.boot_ms!);
  const med = medianOrNull(boots);
  const stopped = (o: string) => o === "interrupted" || o === "not_started";
  const failed =
    rows.filter((r) => r.outcome !== "ready" && !stopped(r.outcome)).length;
  const interrupted = rows.filter((r) => r.outcome === "interrupted").length;
  const notStarted = rows.filter((r) => r.outcome === "not_started").length;
  const outcomes = [
    ...new Set(
      rows.filter((r) => r.outcome !== "ready" && !stopped(r.outcome)).map((
        r,
      ) => r.outcome),
    ),
  ];
  return `${name} ${
    patternLabel(pattern)
  } N=${rows.length}: ${ready.length} ready, ${failed} failed${
    outcomes.length ? ` (${outcomes.join(", ")})` : ""
  }${interrupted ? `, ${interrupted} interrupted` : ""}${
    notStarted ? `, ${notStarted} not started` : ""
  }${
    med !== null
      ? `, boot_ms min/median/max ${Math.min(...boots).toFixed(1)}/${
        med.toFixed(1)
      }/${Math.max(...boots).toFixed(1)}`
      : ""
  }`;
}

async function prepare(image: string, imageFile?: string): Promise<void> {
  const loaded = await loadProfile(image);
  const profile = imageFile ? withImageFile(loaded, imageFile) : loaded;
  if (profile.argv[0].startsWith("qemu-system")) {
    await ensureDebianPackages(["qemu-system-x86"], {
      why: `boot "${profile.name}"`,
    });
  }
  await ensureDebianPackages(["binutils"], {
    why: "build the minkernel (the accelerator probe boots it)",
  });
  await ensureImage(await loadProfile("minkernel"));
  await ensureImage(profile);
}

/** `--out` must be a folder (or a path where one can be created): a usage error otherwise. */
function checkOut(out: string | null | undefined): void {
  if (!out) return;
  try {
    assertOutDir(out);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** What a single batch will do: its cost estimate, pre-flight and timeout. */
interface BatchPlan {
  cost: ImageCost;
  timeout: TimeoutPlan;
  note: string;
}

/**
 * Plan a single batch as a sweep plans a cell: the cost of one boot (the
 * probe cache, else a probe boot when the storm is large enough for the
 * estimate to matter, else the profile's class), the memory pre-flight
 * (refused unless --force) and the timeout (3 × the estimate when longer
 * than the profile's).
 */
async function planBatch(
  args: BatchArgs,
  profile: Profile,
  accel: Accelerator | "auto" | "kvm" | "tcg",
  signal: AbortSignal,
): Promise<BatchPlan> {
  const cell: Cell = {
    id: "batch",
    image: args.image,
    count: args.count,
    pattern: args.pattern,
    params: args.params,
    repeat: 0,
  };
  const cores = navigator.hardwareConcurrency;
  let cost = await knownCost(cell);
  if (
    (cost.source === "profile" || cost.contendedBootMs === undefined) &&
    typeof accel === "object" &&
    3 * estimateCell(cell, cost, { cores }).seconds * 1000 >
      (args.timeoutMs ?? profile.timeoutMs) / 2
  ) {
    const tmp = await Deno.makeTempDir({ prefix: "bootstorm-probe-" });
    try {
      cost = await probeImage(args.image, args.params, {
        accel,
        imageFile: args.imageFile,
        outDir: tmp,
        signal,
        onNote: (m) => console.error(`  ${m}`),
      }) ?? cost;
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  }
  const est = estimateCell(cell, cost, { cores });
  const avail = availableKib();
  const pre = preflightCell(cell, est, { availableKib: avail });
  if (!pre.ok && !args.force) {
    throw new UsageError(
      pre.message!.replace(/^Cell batch /, `Batch `),
    );
  }
  const fds = ensureOpenFiles(est.concurrency);
  const timeout = chooseTimeout({
    flagMs: args.timeoutMs,
    profileMs: profile.timeoutMs,
    estimateSeconds: est.worstSeconds ?? est.seconds,
  });
  const mib = (k: number) => Math.round(k / 1024);
  const note = [
    `estimate ${formatDuration(est.seconds)} (${
      cost.source === "probe"
        ? `one boot ${cost.bootMs.toFixed(0)} ms alone on this host${
          cost.contendedBootMs !== undefined
            ? `, ${cost.contendedBootMs.toFixed(0)} ms each with ${
              2 * cores
            } at once`
            : ""
        }`
        : `about ${cost.bootMs} ms per boot for its class, not probed`
    }, ${args.count} instances on ${cores} cores), peak memory about ${
      mib(est.peakKib)
    } MiB of ${mib(avail)} MiB available${
      pre.ok ? "" : " (over the pre-flight, run with --force)"
    }`,
    `timeout ${
      formatDuration(timeout.ms / 1000)
    } per instance: ${timeout.reason}`,
    ...(fds.ok ? [] : [
      `open-files limit ${fds.soft} < ${fds.needed} needed; spawns past it will be recorded as spawn_failed (raise it with ulimit -n)`,
    ]),
  ].join("\n  ");
  return { cost, timeout, note };
}

async function runOneBatch(
  args: BatchArgs,
  signal: AbortSignal,
): Promise<number> {
  checkOut(args.out);
  // Bad params are refused before anything is built or booted.
  resolveParams(await loadProfile(args.image), args.params);
  await prepare(args.image, args.imageFile);
  const loaded = await loadProfile(args.image);
  const profile = args.imageFile
    ? withImageFile(loaded, args.imageFile)
    : loaded;
  let started = 0, ended = 0;
  const tty = Deno.stderr.isTerminal();
  console.error(
    `bootstorm: ${profile.name}, ${
      patternLabel(args.pattern)
    }, N=${args.count}`,
  );
  // The accelerator once, so that a probe boot and the batch use the same.
  const argv0 = which(profile.argv[0]);
  const accel = profile.argv.includes("${accel}") && argv0 !== null
    ? await chooseAccelerator(args.accel, {
      qemu: argv0,
      kernel: resolve(
        new URL("../build/minkernel/minkernel.elf", import.meta.url).pathname,
      ),
    })
    : args.accel;
  const plan = await planBatch(args, profile, accel, signal);
  console.error(`  ${plan.note}`);
  const { runDir, record, result } = await runBatch(profile, {
    count: args.count,
    pattern: args.pattern,
    outDir: args.out,
    accel,
    params: args.params,
    timeoutMs: plan.timeout.ms,
    timeoutReason: {
      source: plan.timeout.source,
      reason: plan.timeout.reason,
    },
    graceMs: args.graceMs,
    spawnMode: args.spawnMode,
    phases: args.phases,
    insns: args.insns,
    signal,
    onEvent: (ev) => {
      if (ev.type === "started") started++;
      else ended++;
      if (tty) {
        Deno.stderr.writeSync(
          new TextEncoder().encode(
            `\r  started ${started}/${args.count}, booted or ended ${ended}/${args.count}`,
          ),
        );
      }
    },
  });
  if (tty) console.error("");
  const acc = record.accelerator as { kind: string | null; reason: string };
  console.error(`  accelerator: ${acc.kind ?? "n/a"} (${acc.reason})`);
  console.error(
    `  ${batchLine(profile.name, args.pattern, result.rows)}${
      result.interrupted ? " [interrupted: partial dataset]" : ""
    }`,
  );
  console.log(runDir);
  if (result.interrupted) return EXIT_INTERRUPTED;
  if (record.failure) {
    console.error(`bootstorm: ${record.failure.reason}`);
    return EXIT_NOTHING_READY;
  }
  return 0;
}

async function dryRun(
  cells: Cell[],
  note: string,
  force: boolean,
): Promise<number> {
  console.log(`Plan: ${cells.length} cells. ${note}`);
  const avail = availableKib();
  let total = 0, peak = 0;
  const lines: string[][] = [[
    "cell",
    "image",
    "pattern",
    "N",
    "est. time",
    "est. peak MiB",
    "cost from",
    "pre-flight",
  ]];
  for (const c of cells) {
    let cost;
    try {
      cost = await knownCost(c);
    } catch (e) {
      lines.push([
        c.id,
        c.image,
        patternLabel(c.pattern),
        String(c.count),
        "–",
        "–",
        "–",
        (e as Error).message,
      ]);
      continue;
    }
    const est = estimateCell(c, cost, { cores: navigator.hardwareConcurrency });
    const pre = preflightCell(c, est, { availableKib: avail });
    total += est.seconds;
    peak = Math.max(peak, est.peakKib);
    lines.push([
      c.id,
      c.image +
      (Object.keys(c.params).length ? ` ${JSON.stringify(c.params)}` : ""),
      patternLabel(c.pattern),
      String(c.count),
      formatDuration(est.seconds),
      String(Math.round(est.peakKib / 1024)),
      cost.source,
      pre.ok
        ? "ok"
        : force
        ? "over memory (forced)"
        : `refused: largest N that fits ${pre.largestN}`,
    ]);
  }
  const widths = lines[0].map((_, i) =>
    Math.max(...lines.map((l) => l[i].length))
  );
  for (const l of lines) {
    console.log(l.map((c, i) => c.padEnd(widths[i])).join("  "));
  }
  console.log(
    `Estimated total: ${
      formatDuration(total)
    } (plus one probe boot per image); peak ${Math.round(peak / 1024)} MiB of ${
      Math.round(avail / 1024)
    } MiB available. Nothing was started.`,
  );
  return 0;
}

async function runSweepCommand(
  c: Extract<Command, { kind: "sweep" }>,
  signal: AbortSignal,
): Promise<number> {
  let state: SweepState;
  let dir: string;
  checkOut(c.out);
  if (c.resume) {
    dir = resolve(c.resume);
    state = loadSweepState(dir);
    const done = state.cells.filter((x) => x.state === "done").length;
    console.error(
      `bootstorm: resuming ${dir}: ${done}/${state.cells.length} cells done, running the rest`,
    );
  } else {
    if (c.dryRun) return await dryRun(c.cells, c.note, c.force);
    state = newSweep(c.cells, {
      accel: c.accel,
      timeoutMs: c.timeoutMs,
      force: c.force,
      note: c.note,
      insns: c.insns,
      imageFile: c.imageFile,
    });
    dir = resolve(c.out ?? "data/sweeps", state.sweep_id);
    console.error(`bootstorm: ${c.note}`);
  }
  // Unknown images, absent image files and bad params fail before anything starts.
  for (const cell of state.cells.filter((x) => x.state !== "done")) {
    const p = await loadProfile(cell.image);
    resolveParams(p, cell.params);
    if (state.options.imageFile) withImageFile(p, state.options.imageFile);
  }
  await prepare("minkernel");
  if (state.options.insns) {
    // Refuse a sweep that cannot count before its first cell runs.
    await checkInsns();
  }
  let total = 0;
  for (const cell of state.cells) {
    if (cell.state === "done") continue;
    try {
      total += estimateCell(cell, await knownCost(cell), {
        cores: navigator.hardwareConcurrency,
      }).seconds;
    } catch { /* reported when the cell runs */ }
  }
  console.error(
    `bootstorm: estimated ${
      formatDuration(total)
    } for ${state.cells.length} cells → ${dir}`,
  );
  state = await runSweep(state, dir, { signal, onEvent: progressReporter() });
  console.error("\n" + summaryText(state.cells.map(summarizeCell)));
  console.error(`summary: ${join(dir, "summary.md")}`);
  if (!signal.aborted && state.cells.some((x) => x.run_dir)) {
    await figuresAndReport(dir);
  }
  console.log(dir);
  if (signal.aborted) return EXIT_INTERRUPTED;
  return sweepExitCode(state);
}

/**
 * Exit status of a finished sweep: 1 when a cell failed with an error, 3
 * when a cell ran and no instance became ready (or every cell was refused by
 * the pre-flight), else 0; the reason goes to stderr.
 */
export function sweepExitCode(state: SweepState): number {
  const errored = state.cells.filter((x) => x.state === "failed" && !x.failure);
  const nothing = state.cells.filter((x) => x.failure);
  for (const c of errored) {
    console.error(`bootstorm: cell ${c.id} failed: ${c.error}`);
  }
  for (const c of nothing) console.error(`bootstorm: cell ${c.id}: ${c.error}`);
  if (errored.length) return 1;
  if (nothing.length) return EXIT_NOTHING_READY;
  if (state.cells.length && state.cells.every((x) => x.state === "refused")) {
    console.error(
      "bootstorm: every cell was refused by the memory pre-flight: nothing was measured (lower --count or pass --force)",
    );
    return EXIT_NOTHING_READY;
  }
  return 0;
}

/** Build and self-test the boot-work plugin (throws InsnsError with the fix). */
async function checkInsns(): Promise<void> {
  const qemu = which("qemu-system-x86_64") ?? "qemu-system-x86_64";
  const plugin = await ensureInsnsPlugin({ qemu });
  await selfTestPlugin(qemu, plugin.path, {
    kernel: fileURLToPath(
      new URL("../build/minkernel/minkernel.elf", import.meta.url),
    ),
    api: plugin.plugin_api_version,
    headerFrom: plugin.header_from,
  });
}

/** Draw every figure (SVG + PNG) and write report.html for a finished sweep. */
async function figuresAndReport(dir: string): Promise<void> {
  try {
    const set = withoutProbes(await loadRuns(dir));
    const written = await writeFigures(dir, { set });
    const report = await writeReport(dir, { set, figures: written.figures });
    console.error(`figures: ${written.out}\nreport: ${report.out}`);
  } catch (e) {
    console.error(
      `bootstorm: figures/report not written: ${
        (e as Error).message
      } (retry with deno task figures ${dir})`,
    );
  }
}

/** Entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--slurm")) {
    // A multi-host storm on Slurm: see slurm/ (README, "Multi-host storms").
    const { stormMain } = await import("../slurm/storm_main.ts");
    return await stormMain(argv, { parseCommand, help: HELP });
  }
  let cmd: Command;
  try {
    cmd = parseCommand(argv);
  } catch (e) {
    console.error(
      `error: ${(e as Error).message}\n(run with --help for usage)`,
    );
    return 2;
  }
  if (cmd.kind === "help") {
    console.log(HELP);
    return 0;
  }
  const ctl = new AbortController();
  const onSignal = () => {
    console.error(
      "\nbootstorm: interrupted: stopping instances and finalising the dataset…",
    );
    ctl.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // For the whole command: if it dies, whatever it started (builds, probes,
  // guests) is killed; see reaper.ts.
  const releaseReaper = await holdReaper();
  try {
    return cmd.kind === "batch"
      ? await runOneBatch(cmd.batch, ctl.signal)
      : await runSweepCommand(cmd, ctl.signal);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return e instanceof ProfileError || e instanceof UsageError ||
        e instanceof InsnsError
      ? 2
      : 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await releaseReaper();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
