/**
 * Builds and runs the plain C harness of the paper's Algorithm 1
 * (`bench/c/harness.c`): the reference the launcher's timings are compared
 * against. The harness writes a CSV; this module parses it into rows with the
 * same column names as the launcher's `instances` dataset.
 *
 * @module
 */
import * as aq from "arquero";
import { execa } from "execa";

/** The first and last lines of a tool's stderr, for an error message. */
function stderrEnds(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trimEnd()).filter(Boolean);
  if (lines.length <= 2) return lines.join(" / ") || "no output";
  return `${lines[0]} … ${lines.at(-1)}`;
}

const HERE = new URL(".", import.meta.url);
/** Source of the C harness. */
export const HARNESS_SOURCE: string = new URL("c/harness.c", HERE).pathname;
/** Where {@link buildHarness} puts the binary (git-ignored). */
export const HARNESS_BINARY: string = new URL("build/harness", HERE).pathname;
/** Compiler flags; `-pthread` is required. */
export const HARNESS_CFLAGS: readonly string[] = [
  "-O2",
  "-pthread",
  "-Wall",
  "-Wextra",
];

/** When an instance counts as booted, as in a profile's `ready`. */
export type HarnessReady =
  | string
  | RegExp
  | { line: string }
  | { exit: true }
  | { firstOutput: true };

/** Options of {@link runHarness}. */
export interface RunHarnessOptions {
  /** Number of instances (default 1). */
  count?: number;
  /** Open-loop interval between scheduled starts in ms; 0 or absent = back-to-back. */
  intervalMs?: number;
  /** Closed loop instead: keep this many instances in flight (1 = one at a time). */
  parallel?: number;
  /** Run the scheduling thread at SCHED_FIFO when permitted (a variant, not the paper's method). */
  realtime?: boolean;
  /**
   * Pre-start, back-to-back only: fork every instance before T_0 and hold it
   * stopped (`stop`, harness -S: SIGSTOP, released by SIGCONT, the
   * launcher's way) or blocked on a pipe (`pipe`, -P); the exec is inside
   * ΔT, the fork is not. Absent: the paper's method (fork at T_s).
   */
  prestart?: "stop" | "pipe";
  /** With `prestart`: µs between two releases (default 0). */
  releaseGapUs?: number;
  /** A memory cgroup's cgroup.procs file the harness joins before T_0, so every child is in it (`-c`). */
  cgroupProcs?: string;
  /** Ready condition: a regex (string or RegExp source) or a profile `ready`. */
  ready: HarnessReady;
  /** Per-instance timeout from T_s in ms (default 30000). */
  timeoutMs?: number;
  /** Harness binary (default: build it with {@link buildHarness}). */
  binary?: string;
  /** Kill the harness after this many ms (default: timeout + 60 s + 20 ms × count). */
  wallTimeoutMs?: number;
}

/** One instance as timed by the C harness; ms after T_0, null when absent. */
export interface HarnessRow {
  instance: number;
  scheduled_ms: number | null;
  t_s_ms: number;
  first_output_ms: number | null;
  ready_ms: number | null;
  boot_ms: number | null;
  first_output_boot_ms: number | null;
  outcome: "ready" | "timeout" | "exited_before_ready" | "spawn_failed";
  /** When fork() returned in the parent. */
  forked_ms: number | null;
  /** When the process was seen to exit (or was reaped after the kill). */
  exit_ms: number | null;
  exit_code: number | null;
  signal: number | null;
  output_bytes: number;
}

const NUMERIC = [
  "instance",
  "scheduled_ms",
  "t_s_ms",
  "first_output_ms",
  "ready_ms",
  "boot_ms",
  "first_output_boot_ms",
  "forked_ms",
  "exit_ms",
  "exit_code",
  "signal",
  "output_bytes",
] as const;

/**
 * The harness's command-line arguments (without the binary) for an argv.
 *
 * @example
 * ```ts
 * import { harnessArgs } from "./c_harness.ts";
 * console.log(harnessArgs(["/bin/true"], { count: 3, ready: { exit: true } }));
 * // ["-n", "3", "-x", "-t", "30000", "--", "/bin/true"]
 * ```
 */
export function harnessArgs(
  argv: readonly string[],
  options: Omit<RunHarnessOptions, "binary" | "wallTimeoutMs">,
): string[] {
  if (argv.length === 0) {
    throw new Error(
      "Cannot run the C harness: empty argv (give the command to time)",
    );
  }
  const count = options.count ?? 1;
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(
      `Cannot run the C harness: count must be a positive integer, got ${count}`,
    );
  }
  const args = ["-n", String(count)];
  const interval = options.intervalMs ?? 0;
  if (!(interval >= 0)) {
    throw new Error(
      `Cannot run the C harness: intervalMs must be ≥ 0, got ${interval}`,
    );
  }
  if (interval > 0) args.push("-i", String(interval));
  if (options.parallel !== undefined) {
    if (
      !Number.isInteger(options.parallel) || options.parallel < 1 ||
      interval > 0
    ) {
      throw new Error(
        `Cannot run the C harness: parallel must be a positive integer without an interval, got ${options.parallel}`,
      );
    }
    args.push("-p", String(options.parallel));
  }
  if (options.realtime) args.push("-R");
  if (options.prestart) {
    if (interval > 0 || options.parallel !== undefined) {
      throw new Error(
        "Cannot run the C harness: prestart is for back-to-back storms (no intervalMs, no parallel)",
      );
    }
    args.push(options.prestart === "stop" ? "-S" : "-P");
    if (options.releaseGapUs) args.push("-g", String(options.releaseGapUs));
  }
  if (options.cgroupProcs) args.push("-c", options.cgroupProcs);
  const ready = options.ready;
  if (typeof ready === "string") args.push("-r", ready);
  else if (ready instanceof RegExp) args.push("-r", ready.source);
  else if ("line" in ready) args.push("-r", ready.line);
  else if ("exit" in ready) args.push("-x");
  else args.push("-f");
  args.push("-t", String(options.timeoutMs ?? 30000), "--", ...argv);
  return args;
}

/**
 * Parses the harness CSV (header line + one row per instance; empty = null)
 * with arquero's CSV decoder (`aq.fromCSV`).
 *
 * @example
 * ```ts
 * import { parseHarnessCsv } from "./c_harness.ts";
 * const rows = parseHarnessCsv(
 *   "instance,scheduled_ms,t_s_ms,first_output_ms,ready_ms,boot_ms,first_output_boot_ms,outcome\n" +
 *     "0,,0.000,,1.500,1.500,,ready\n",
 * );
 * console.log(rows[0].boot_ms, rows[0].first_output_ms); // 1.5 null
 * ```
 */
export function parseHarnessCsv(text: string): HarnessRow[] {
  if (text.trim() === "") {
    throw new Error(
      "Cannot read the C harness output: it is empty (no CSV header)",
    );
  }
  const num = (v: string) => v === "" ? null : Number(v);
  const table = aq.fromCSV(text, {
    autoType: false,
    parse: Object.fromEntries(NUMERIC.map((k) => [k, num])),
  });
  const header = table.columnNames();
  for (const need of ["instance", "t_s_ms", "boot_ms", "outcome"]) {
    if (!header.includes(need)) {
      throw new Error(
        `Cannot read the C harness output: column "${need}" missing from header "${
          header.join(",")
        }"`,
      );
    }
  }
  const last = header.at(-1)!;
  return (table.objects() as Record<string, unknown>[]).map((rec, i) => {
    if (rec[last] === undefined) {
      throw new Error(
        `Cannot read the C harness output: row ${
          i + 1
        } has fewer cells than the header's ${header.length}`,
      );
    }
    const row: Record<string, unknown> = { outcome: rec.outcome };
    for (const k of NUMERIC) row[k] = rec[k] ?? null;
    row.output_bytes ??= 0;
    return row as unknown as HarnessRow;
  });
}

async function mtime(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Builds `bench/build/harness` from `bench/c/harness.c` when it is missing or
 * older than the source; returns the binary's path.
 *
 * @example
 * ```ts
 * import { buildHarness } from "./c_harness.ts";
 * const bin = await buildHarness();
 * console.log(bin.endsWith("bench/build/harness")); // true
 * ```
 */
export async function buildHarness(
  options: { force?: boolean; compiler?: string; output?: string } = {},
): Promise<string> {
  const out = options.output ?? HARNESS_BINARY;
  const src = await mtime(HARNESS_SOURCE);
  if (src === null) {
    throw new Error(
      `Cannot build the C harness: source ${HARNESS_SOURCE} is missing`,
    );
  }
  const bin = await mtime(out);
  if (!options.force && bin !== null && bin >= src) return out;
  await Deno.mkdir(out.slice(0, out.lastIndexOf("/")) || ".", {
    recursive: true,
  });
  const cc = options.compiler ?? "cc";
  const args = [...HARNESS_CFLAGS, "-o", out, HARNESS_SOURCE];
  const result = await execa(cc, args, { reject: false, stdin: "ignore" });
  if (result.failed && result.code === "ENOENT") {
    throw new Error(
      `Cannot build the C harness: no C compiler "${cc}" on PATH; install one with \`apt-get install -y gcc\` (or build-essential)`,
    );
  }
  if (result.failed) {
    throw new Error(
      `Cannot build the C harness: \`${cc} ${args.join(" ")}\` failed (exit ${
        result.exitCode ?? result.signal ?? result.code
      }): ${
        stderrEnds(String(result.stderr))
      }. Check that ${HARNESS_SOURCE} compiles with gcc (apt-get install -y gcc libc6-dev), or pass another compiler.`,
    );
  }
  return out;
}

/**
 * Times `argv` with the C harness and returns one row per instance.
 *
 * @example
 * ```ts
 * import { runHarness } from "./c_harness.ts";
 * const rows = await runHarness(["/bin/true"], { count: 2, ready: { exit: true } });
 * console.log(rows.map((r) => r.outcome)); // ["ready", "ready"]
 * ```
 */
export async function runHarness(
  argv: readonly string[],
  options: RunHarnessOptions,
): Promise<HarnessRow[]> {
  return (await runHarnessWithCost(argv, options)).rows;
}

/** The harness's rows and its own CPU from T_0 to the last reap. */
export interface HarnessRun {
  /** One row per instance. */
  rows: HarnessRow[];
  /** Its CPU (every thread, the instances not in it) from T_0 to the last reap, ms; null if it did not say. */
  cpuMs: number | null;
  /** T_0 to the last reap, ms; null if it did not say. */
  wallMs: number | null;
}

/**
 * The harness's own CPU and wall time from its last stderr line, or nulls.
 *
 * @example
 * ```ts
 * import { parseHarnessCost } from "./c_harness.ts";
 * console.log(parseHarnessCost("harness: 2 instances, 2 ready, 0 not ready; cpu_ms 1.5 wall_ms 9.25 (from T_0)\n"));
 * // { cpuMs: 1.5, wallMs: 9.25 }
 * ```
 */
export function parseHarnessCost(
  stderr: string,
): { cpuMs: number | null; wallMs: number | null } {
  const m = /cpu_ms ([\d.]+) wall_ms ([\d.]+)/.exec(stderr);
  return m
    ? { cpuMs: Number(m[1]), wallMs: Number(m[2]) }
    : { cpuMs: null, wallMs: null };
}

/**
 * Times `argv` with the C harness: its rows, and what the harness itself
 * cost (CPU from T_0 to the last reap), the paper's method's own cost to
 * set the launcher's against.
 *
 * @example
 * ```ts
 * import { runHarnessWithCost } from "./c_harness.ts";
 * const r = await runHarnessWithCost(["/bin/true"], { count: 2, ready: { exit: true } });
 * console.log(r.rows.length, r.cpuMs !== null); // 2 true
 * ```
 */
export async function runHarnessWithCost(
  argv: readonly string[],
  options: RunHarnessOptions,
): Promise<HarnessRun> {
  const binary = options.binary ?? await buildHarness();
  const dir = await Deno.makeTempDir({ prefix: "bootstorm-harness-" });
  const csv = `${dir}/out.csv`;
  try {
    const args = ["-o", csv, ...harnessArgs(argv, options)];
    const count = options.count ?? 1;
    const wall = options.wallTimeoutMs ??
      (options.timeoutMs ?? 30000) + 60000 + 20 * count;
    // Stays on Deno.Command: the harness is the timing reference, spawned and killed like the launcher's guests.
    const child = new Deno.Command(binary, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, wall);
    const result = await child.output().finally(() => clearTimeout(timer));
    if (!result.success) {
      const msg = new TextDecoder().decode(result.stderr).trim();
      throw new Error(
        `Cannot time "${argv[0]}" with the C harness: harness exited with ${
          result.signal ?? result.code
        }${msg ? `: ${msg}` : ""}`,
      );
    }
    return {
      rows: parseHarnessCsv(await Deno.readTextFile(csv)),
      ...parseHarnessCost(new TextDecoder().decode(result.stderr)),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
