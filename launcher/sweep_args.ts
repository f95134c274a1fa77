/**
 * The `deno task sweep` command line: its help text, and `parseCommand`, a
 * pure parser from argv to a single batch, a sweep, a resume or help (it
 * reads a `--plan` file, nothing else). Used by the entry point
 * (`cli/sweep.ts`) and by the Slurm agents, which parse each node's share
 * of the same command line.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type Pattern,
  patternFromJson,
  PATTERNS,
  type SpawnMode,
} from "./pattern.ts";
import { type Cell, defaultPlan, expandGrid, type Grid } from "./sweep_plan.ts";

const KINDS = Object.values(PATTERNS);
/** The launch patterns' lines of the help text (pattern.ts). */
const patternHelp = KINDS.map((k) => `  ${k.flag.help}`).join("\n");
/** Plan-file forms of the launch patterns, `|`-separated. */
const patternJson = KINDS.map((k) => k.json).join("|");

/** The help text of `deno task sweep`. */
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
${patternHelp}
  --image-file PATH   boot this image file with the profile's argv (your own build), instead of the
                      profile's "image"; one --image only
  --param NAME=VALUE  profile param; the same NAME given again adds a value (a grid dimension)
  --repeat R          run every cell R times                                       [1]

Sweep:
  --plan FILE         plan file: {"images":[..],"counts":[..],"patterns":[${patternJson}],"params":{"k":["v"]},"repeat":1} or {"cells":[{"image":..,"count":..,"pattern":{..},"params":{..}}]}
  --full              with no grid: the paper's sizes (storms 64 … 1280, Linux up to 512)
  --dry-run           print the plan with each cell's estimated time and peak memory; start nothing
  --resume DIR        continue the sweep in DIR without redoing finished cells
  --force             run cells (or a batch) the memory pre-flight refuses

Options:
  --timeout MS        per-instance boot timeout from T_s      [the profile's timeoutMs, or 3 × the estimate when longer]
  --out DIR           parent folder of the run / sweep folder                      [data/runs, data/sweeps]
  --accel MODE        auto | kvm | tcg                                             [auto: KVM when usable]
  --grace MS          SIGTERM → SIGKILL grace period when stopping instances       [0 for kill-after-ready, else 1000]
                      0: SIGKILL at once, as the paper's C harness (a storm boots faster)
  --spawn-mode MODE   fork | prestart | direct (single batch only)                 [fork; direct for --parallel]
  --phases            QEMU phase mode (single batch only): start paused (-S) with a QMP socket per
                      instance; records vmm_ready_ms, t_k_ms (T_K), vmm_init_ms, guest_boot_ms
  --insns             boot work (QEMU under TCG only; batch and sweep): load the project's TCG plugin into
                      every instance and record instructions to first output and to ready, firmware apart
                      (insns_* columns). Built on first use from Debian's qemu source package (needs gcc,
                      libglib2.0-dev). Refused with --accel kvm; auto then means TCG
  --insns-mem         --insns and also count guest memory accesses (mem_accesses_ready; slower)
  --memory-source SRC c-sampler | worker | off: how memory is sampled every 500 µs  [c-sampler]
                      c-sampler: a C process reading the run's cgroup (run_used_kib) every tick and
                      /proc/meminfo (used_kib) every 20th; worker: a Deno worker on /proc/meminfo
                      every tick; off: no memory rows (the launcher's cost without sampling)
  --memory-quiet KIB  c-sampler on a cgroup v1 run cgroup: while the run's memory stays within KIB
                      of the last sample, sleep on a kernel memory threshold instead of sampling
                      (idle cost 0.2% of a core instead of 8%); 0 = sample every 500 µs always [1024]
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
  ...Object.fromEntries(
    KINDS.filter((k) => k.flag.hint).map((k) => [k.flag.name, k.flag.hint!]),
  ),
  timeout: "milliseconds, e.g. --timeout 30000",
  out: "a folder, e.g. --out data/runs",
  accel: "auto, kvm or tcg, e.g. --accel tcg",
  param: "NAME=VALUE, e.g. --param mem_mib=64",
  grace: "milliseconds (0: SIGKILL at once), e.g. --grace 1000",
  "spawn-mode": "direct, prestart or fork",
  "memory-source": "c-sampler, worker or off",
  "memory-quiet":
    "KiB (0: sample at the rate always), e.g. --memory-quiet 1024",
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
  spawnMode?: SpawnMode;
  phases?: boolean;
  insns?: boolean | { mem: boolean };
  /** How memory is sampled (--memory-source; default c-sampler). */
  memorySource?: MemorySourceChoice;
  /** C sampler quiet-mode step, KiB (--memory-quiet; default 1024, 0 = rate mode). */
  memoryQuietKib?: number;
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
    memorySource: MemorySourceChoice;
    memoryQuietKib?: number;
    imageFile: string | null;
  };

/** `--memory-source`: a memory source of the launcher, or no sampling. */
export type MemorySourceChoice = "c-sampler" | "worker" | "off";

function quietOf(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new UsageError(
      `Invalid --memory-quiet ${
        JSON.stringify(v)
      }: expected KiB ≥ 0 (0 samples at the rate always), e.g. --memory-quiet 1024`,
    );
  }
  return n;
}

function memorySourceOf(v: string | undefined): MemorySourceChoice {
  if (v === undefined) return "c-sampler";
  if (v === "c-sampler" || v === "worker" || v === "off") return v;
  throw new UsageError(
    `Invalid --memory-source ${
      JSON.stringify(v)
    }: expected c-sampler, worker or off`,
  );
}

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

/** The launch patterns' flags, for parseArgs. */
const PATTERN_FLAGS = Object.fromEntries(
  KINDS.map((k) => [
    k.flag.name,
    k.flag.value
      ? { type: "string" as const, multiple: true as const }
      : { type: "boolean" as const },
  ]),
);

function parseArgsStrict(args: string[]) {
  return parseArgs({
    args,
    options: {
      image: { type: "string", multiple: true },
      count: { type: "string", multiple: true },
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
      "memory-source": { type: "string" },
      "memory-quiet": { type: "string" },
      "image-file": { type: "string" },
      help: { type: "boolean", short: "h" },
      ...PATTERN_FLAGS,
    },
    strict: true,
    allowPositionals: false,
  });
}

function parsePattern(p: unknown, where: string): Pattern {
  const pattern = patternFromJson(p);
  if (pattern) return pattern;
  const forms = KINDS.map((k) => k.json);
  throw new UsageError(
    `${where}: invalid pattern ${JSON.stringify(p)}; use ${
      forms.slice(0, -1).join(", ")
    } or ${forms.at(-1)}`,
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
  for (const k of KINDS) {
    const given = (values as Record<string, unknown>)[k.flag.name];
    if (given === undefined || given === false) continue;
    for (const v of k.flag.value ? given as string[] : [undefined]) {
      const p = k.fromFlag(v);
      if (typeof p === "string") throw new UsageError(p);
      patterns.push(p);
    }
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
    spawnMode !== "prestart" && spawnMode !== "fork"
  ) {
    throw new UsageError(
      `Invalid --spawn-mode ${
        JSON.stringify(spawnMode)
      }: expected direct, prestart or fork`,
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
  // 0 is allowed: SIGKILL at once.
  const graceMs = values.grace === "0"
    ? 0
    : positiveNumber("--grace", values.grace, false);
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
    memorySource: memorySourceOf(values["memory-source"]),
    memoryQuietKib: quietOf(values["memory-quiet"]),
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
        memorySource: sweepOpts.memorySource,
        memoryQuietKib: sweepOpts.memoryQuietKib,
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
