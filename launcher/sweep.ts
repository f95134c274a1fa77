/**
 * Running a sweep: probe each image once, pre-flight each cell, run the
 * cells one after the other into one sweep folder, keep `sweep.json` (the
 * plan and the state of every cell) current after every change, and write
 * `summary.md` / `summary.json` at the end. `--resume` skips finished cells.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { tableFromIPC } from "apache-arrow";
import { type Accelerator, chooseAccelerator } from "./accel.ts";
import { ensureOpenFiles } from "./limits.ts";
import { patternLabel } from "./pattern.ts";
import {
  assertImagePresent,
  loadProfile,
  type Profile,
  withImageFile,
} from "./profile.ts";
import { runBatch } from "./run_batch.ts";
import { newRunId } from "./run_record.ts";
import type { RunFailure } from "../dataset/run_record.ts";
import { type CellSummary, summarizeRun, summaryMarkdown } from "./summary.ts";
import {
  type Cell,
  type CellEstimate,
  chooseTimeout,
  costFromProbe,
  estimateCell,
  type ImageCost,
  preflightCell,
  profileCost,
} from "./sweep_plan.ts";
import { fileURLToPath } from "node:url";

/** State of one cell. */
export type CellState =
  | "pending"
  | "running"
  | "done"
  | "partial"
  | "failed"
  | "refused";

/** A cell with its state, as kept in `sweep.json`. */
export interface CellRecord extends Cell {
  state: CellState;
  run_id: string | null;
  run_dir: string | null;
  error: string | null;
  estimate: CellEstimate | null;
  /** Superseded run folders of this cell (interrupted or failed attempts); the analysis ignores them. */
  previous_runs: string[];
  /** Set when the cell's run finished with no instance ready (state `failed`). */
  failure?: RunFailure | null;
}

/** The content of `sweep.json`. */
export interface SweepState {
  /** Version of this file's format. */
  sweep_version: 1;
  /** Unique id (also the folder name). */
  sweep_id: string;
  /** Wall-clock creation, ISO 8601 UTC. */
  created_at: string;
  /** Where the cells came from. */
  note: string;
  /** Options every cell shares. */
  options: {
    accel: "auto" | "kvm" | "tcg";
    timeoutMs: number | null;
    force: boolean;
    /** Boot work (--insns, `{ mem: true }` for --insns-mem) in every cell; TCG only. */
    insns?: boolean | { mem: boolean };
    /** Every cell boots this image file instead of its profile's (--image-file). */
    imageFile?: string | null;
    /** How memory is sampled in every cell (--memory-source; default c-sampler). */
    memorySource?: "c-sampler" | "worker" | "off";
    /** C sampler quiet-mode step in every cell, KiB (--memory-quiet; 0: rate mode). */
    memoryQuietKib?: number;
  };
  /** The accelerator chosen once for all cells (null until chosen). */
  accelerator: Accelerator | null;
  /** Probe costs per image (the estimates' input). */
  probes: Record<string, ImageCost>;
  /** Every cell and its state. */
  cells: CellRecord[];
}

/** Progress of a sweep, for the terminal. */
export type SweepEvent =
  | {
    type: "cell-start";
    index: number;
    total: number;
    cell: CellRecord;
    etaSeconds: number;
  }
  | {
    type: "instance";
    cell: CellRecord;
    started: number;
    ready: number;
    failed: number;
  }
  | { type: "cell-end"; cell: CellRecord; summary: CellSummary | null }
  | { type: "note"; message: string };

/** Probe cache shared by sweeps on this host (git-ignored). */
export const PROBE_CACHE: string = fileURLToPath(
  new URL("../data/cache/probes.json", import.meta.url),
);

/** Key of an image + params for probes. */
export function probeKey(
  image: string,
  params: Record<string, string>,
): string {
  const p = Object.entries(params).sort().map(([k, v]) => `${k}=${v}`).join(
    ",",
  );
  return p ? `${image}?${p}` : image;
}

/** The profile a cell boots (with the sweep's --image-file, if any). */
export async function cellProfile(
  state: SweepState,
  image: string,
): Promise<Profile> {
  const p = await loadProfile(image);
  return state.options.imageFile
    ? withImageFile(p, state.options.imageFile)
    : p;
}

/** A new sweep state from cells. */
export function newSweep(
  cells: Cell[],
  options: SweepState["options"] & { note?: string },
): SweepState {
  return {
    sweep_version: 1,
    sweep_id: newRunId(),
    created_at: new Date().toISOString(),
    note: options.note ?? "",
    options: {
      accel: options.accel,
      timeoutMs: options.timeoutMs,
      force: options.force,
      insns: options.insns ?? false,
      imageFile: options.imageFile ?? null,
      memorySource: options.memorySource ?? "c-sampler",
      memoryQuietKib: options.memoryQuietKib,
    },
    accelerator: null,
    probes: {},
    cells: cells.map((c) => ({
      ...c,
      state: "pending",
      run_id: null,
      run_dir: null,
      error: null,
      estimate: null,
      previous_runs: [],
    })),
  };
}

/** Write `sweep.json` atomically. */
export function saveSweep(dir: string, state: SweepState): void {
  Deno.mkdirSync(dir, { recursive: true });
  const path = join(dir, "sweep.json");
  Deno.writeTextFileSync(path + ".tmp", JSON.stringify(state, null, 2) + "\n");
  Deno.renameSync(path + ".tmp", path);
}

/** Read `sweep.json` of a sweep folder, with a clear error. */
export function loadSweepState(dir: string): SweepState {
  const path = join(dir, "sweep.json");
  let raw: string;
  try {
    raw = Deno.readTextFileSync(path);
  } catch {
    throw new Error(
      `Cannot resume ${dir}: no sweep.json there (is it a sweep folder written by deno task sweep?)`,
    );
  }
  const s = JSON.parse(raw) as SweepState;
  if (s.sweep_version !== 1 || !Array.isArray(s.cells)) {
    throw new Error(
      `Cannot resume ${dir}: sweep.json has an unknown layout (sweep_version ${s.sweep_version})`,
    );
  }
  return s;
}

function readCache(): Record<string, ImageCost & { host?: string }> {
  try {
    return JSON.parse(Deno.readTextFileSync(PROBE_CACHE));
  } catch {
    return {};
  }
}

function writeCache(c: Record<string, unknown>): void {
  try {
    Deno.mkdirSync(join(PROBE_CACHE, ".."), { recursive: true });
    Deno.writeTextFileSync(PROBE_CACHE, JSON.stringify(c, null, 2) + "\n");
  } catch {
    // a read-only checkout: no cache
  }
}

/** Costs known without booting anything: the probe cache, else the profile. */
export async function knownCost(cell: Cell): Promise<ImageCost> {
  const cached = readCache()[probeKey(cell.image, cell.params)];
  if (cached) {
    return {
      bootMs: cached.bootMs,
      rssKib: cached.rssKib,
      sharedKib: cached.sharedKib,
      contendedBootMs: cached.contendedBootMs,
      source: "probe",
    };
  }
  const p = await loadProfile(cell.image);
  const mem = Number(
    cell.params.mem_mib ?? p.params.mem_mib ?? p.minMemoryMib ?? 64,
  );
  return profileCost(p.class, mem);
}

/** MemAvailable in KiB. */
export function availableKib(): number {
  const s = Deno.readTextFileSync("/proc/meminfo");
  return Number(/MemAvailable:\s+(\d+)/.exec(s)?.[1] ?? 0);
}

function readRows(path: string): Record<string, unknown>[] {
  try {
    return tableFromIPC(Deno.readFileSync(path)).toArray().map((r) =>
      r.toJSON() as Record<string, unknown>
    );
  } catch {
    return [];
  }
}

/** The summary line of a cell, from its run folder. */
export function summarizeCell(cell: CellRecord): CellSummary {
  const base = {
    cell: cell.id,
    image: cell.image +
      (Object.keys(cell.params).length
        ? ` (${
          Object.entries(cell.params).map(([k, v]) => `${k}=${v}`).join(" ")
        })`
        : ""),
    pattern: patternLabel(cell.pattern),
    state: cell.state,
    run_id: cell.run_id,
  };
  if (!cell.run_dir) {
    return {
      ...base,
      n: cell.count,
      ready: 0,
      failed: 0,
      boot_min_ms: null,
      boot_median_ms: null,
      boot_max_ms: null,
      peak_used_mib: null,
      peak_added_mib: null,
      rss_median_kib: null,
    };
  }
  const inst = readRows(join(cell.run_dir, "instances.arrow"));
  const mem = readRows(join(cell.run_dir, "memory.arrow"));
  return { ...base, ...summarizeRun(inst as never, mem as never) };
}

/** Write summary.md and summary.json of a sweep; returns the rows. */
export function writeSummary(dir: string, state: SweepState): CellSummary[] {
  const rows = state.cells.map(summarizeCell);
  const md = `# Sweep ${state.sweep_id}\n\n${state.note}\n\n${
    summaryMarkdown(rows)
  }`;
  Deno.writeTextFileSync(join(dir, "summary.md"), md);
  Deno.writeTextFileSync(
    join(dir, "summary.json"),
    JSON.stringify({ sweep_id: state.sweep_id, cells: rows }, null, 2) + "\n",
  );
  return rows;
}

/**
 * What a boot costs under contention at the least, in boots alone. Measured
 * here (2 cores, TCG, other jobs running): 4 at once cost 3-4.5 × a boot
 * alone for the `pc` minkernel (377-526 ms against 116-126 ms) and 3-5 ×
 * for microvm; one probe storm at a quiet moment can see much less (123 ms),
 * while a 256-storm cost 0.27-0.6 s per boot. The probe storm's own figure
 * counts when it is higher.
 */
export const CONTENTION_FLOOR = 3;

/**
 * Probe an image: boot one instance alone (boot time, anonymous memory,
 * shared pages), then 2 × cores back to back (what a boot costs under
 * contention: `contendedBootMs`, which timeouts scale); null when the lone
 * boot did not become ready. The result also goes into the probe cache
 * ({@link PROBE_CACHE}). The probes' run folders are written under `outDir`.
 *
 * @example
 * ```ts ignore
 * const cost = await probeImage("minkernel", {}, { accel, outDir: "/tmp/probes" });
 * ```
 */
export async function probeImage(
  image: string,
  params: Record<string, string>,
  options: {
    accel: Accelerator;
    outDir: string;
    signal?: AbortSignal;
    onNote?: (message: string) => void;
    /** Cores the contended probe oversubscribes (default: this host's). */
    cores?: number;
    /** Boot this image file with the profile's argv (--image-file). */
    imageFile?: string | null;
    /** Make the profile's image available (build it; default: check it is there). */
    prepare?: (profile: Profile) => Promise<void>;
  },
): Promise<ImageCost | null> {
  const key = probeKey(image, params);
  const cores = options.cores ?? navigator.hardwareConcurrency;
  try {
    const loaded = await loadProfile(image);
    const profile = options.imageFile
      ? withImageFile(loaded, options.imageFile)
      : loaded;
    await (options.prepare ?? assertImagePresent)(profile);
    const { result } = await runBatch(profile, {
      count: 1,
      pattern: { kind: "back-to-back" },
      accel: options.accel,
      params,
      outDir: options.outDir,
      sampleIntervalMs: 0,
      readAnonMemory: true,
      signal: options.signal,
    });
    const r = result.rows[0] as (typeof result.rows)[0] & {
      anon_kib?: number | null;
    };
    if (r?.outcome !== "ready" || r.boot_ms === null) {
      options.onNote?.(
        `probe ${key}: no boot (${r?.outcome ?? "no row"}${
          r?.error ? `: ${r.error}` : ""
        }); estimating from the profile`,
      );
      return null;
    }
    const rss = r.rss_peak_kib ?? 0;
    const priv = r.anon_kib ?? null;
    const cost: ImageCost = costFromProbe({ ...r, boot_ms: r.boot_ms });
    // Under contention: 2 × cores at once.
    const n = Math.max(2, 2 * cores);
    const storm = await runBatch(profile, {
      count: n,
      pattern: { kind: "back-to-back" },
      accel: options.accel,
      params,
      outDir: options.outDir,
      sampleIntervalMs: 0,
      signal: options.signal,
    });
    const rows = storm.result.rows;
    if (rows.every((x) => x.outcome === "ready")) {
      const first = Math.min(...rows.map((x) => x.t_s_ms!));
      const last = Math.max(...rows.map((x) => x.ready_ms!));
      cost.contendedBootMs = Math.max(
        CONTENTION_FLOOR * r.boot_ms,
        ((last - first) * cores) / n,
      );
    } else {
      options.onNote?.(
        `probe ${key}: not every one of ${n} instances booted at once; timeouts scale the lone boot`,
      );
    }
    const cache = readCache();
    cache[key] = cost;
    writeCache(cache);
    options.onNote?.(
      `probe ${key}: one boot ${r.boot_ms.toFixed(0)} ms${
        cost.contendedBootMs !== undefined
          ? ` (${cost.contendedBootMs.toFixed(0)} ms each with ${n} at once)`
          : ""
      }, peak RSS ${Math.round(rss / 1024)} MiB${
        priv
          ? `, anonymous ${
            Math.round(priv / 1024)
          } MiB (the cost of one more instance)`
          : ""
      }`,
    );
    return cost;
  } catch (e) {
    options.onNote?.(`probe ${key} failed: ${(e as Error).message}`);
    return null;
  }
}

/**
 * Run (or resume) a sweep in `dir`: cells already `done` are skipped.
 *
 * @example
 * ```ts ignore
 * const state = newSweep(expandGrid({ images: ["minkernel"], counts: [8], patterns: [{ kind: "back-to-back" }] }), { accel: "tcg", timeoutMs: null, force: false });
 * await runSweep(state, "data/sweeps/x");
 * ```
 */
export async function runSweep(
  state: SweepState,
  dir: string,
  options: {
    signal?: AbortSignal;
    onEvent?: (ev: SweepEvent) => void;
    cores?: number;
    /**
     * Make a cell's image available before it runs (the entry point passes
     * images/ensure.ts `ensureImage`, which builds the project's own images;
     * default: check that it is there).
     */
    prepare?: (profile: Profile) => Promise<void>;
  } = {},
): Promise<SweepState> {
  dir = resolve(dir);
  const prepare = options.prepare ?? assertImagePresent;
  const cores = options.cores ?? navigator.hardwareConcurrency;
  saveSweep(dir, state);
  const todo = state.cells.filter((c) => c.state !== "done");
  // Accelerator once for the whole sweep.
  if (!state.accelerator && state.options.insns) {
    if (state.options.accel === "kvm") {
      throw new Error(
        "Cannot use --insns with --accel kvm: boot work is counted by a TCG plugin; use --accel tcg",
      );
    }
    state.accelerator = {
      ...(await chooseAccelerator("tcg")),
      reason: "--insns counts instructions with a TCG plugin: TCG",
    };
    options.onEvent?.({
      type: "note",
      message: `accelerator: tcg (${state.accelerator.reason})`,
    });
  }
  if (!state.accelerator) {
    state.accelerator = await chooseAccelerator(state.options.accel, {
      qemu: "qemu-system-x86_64",
      kernel: fileURLToPath(
        new URL("../build/minkernel/minkernel.elf", import.meta.url),
      ),
    });
    options.onEvent?.({
      type: "note",
      message:
        `accelerator: ${state.accelerator.kind} (${state.accelerator.reason})`,
    });
  }
  // Probe each image (with its params) once: one boot alone.
  for (const cell of todo) {
    const key = probeKey(cell.image, cell.params);
    if (state.probes[key] || options.signal?.aborted) continue;
    const cost = await probeImage(cell.image, cell.params, {
      accel: state.accelerator,
      prepare,
      imageFile: state.options.imageFile,
      outDir: join(dir, "probes"),
      signal: options.signal,
      onNote: (message) => options.onEvent?.({ type: "note", message }),
    });
    if (cost) state.probes[key] = cost;
  }
  saveSweep(dir, state);
  const costOf = async (c: Cell) =>
    state.probes[probeKey(c.image, c.params)] ?? (await knownCost(c));
  for (const c of todo) {
    c.estimate = estimateCell(c, await costOf(c), { cores });
  }
  let index = state.cells.length - todo.length;
  for (const cell of todo) {
    if (options.signal?.aborted) break;
    index++;
    const eta = todo.slice(todo.indexOf(cell)).reduce(
      (s, c) => s + (c.estimate?.seconds ?? 0),
      0,
    );
    options.onEvent?.({
      type: "cell-start",
      index,
      total: state.cells.length,
      cell,
      etaSeconds: eta,
    });
    const pre = preflightCell(cell, cell.estimate!, {
      availableKib: availableKib(),
    });
    if (!pre.ok && !state.options.force) {
      cell.state = "refused";
      cell.error = pre.message;
      saveSweep(dir, state);
      options.onEvent?.({ type: "cell-end", cell, summary: null });
      continue;
    }
    const fds = ensureOpenFiles(cell.estimate!.concurrency);
    if (!fds.ok) {
      options.onEvent?.({
        type: "note",
        message: `open-files limit ${fds.soft} < ${fds.needed} needed for ${
          cell.estimate!.concurrency
        } instances; spawns past it will be recorded as spawn_failed (raise it with ulimit -n)`,
      });
    }
    if (cell.run_dir) cell.previous_runs.push(cell.run_dir);
    cell.state = "running";
    cell.error = null;
    cell.failure = null;
    saveSweep(dir, state);
    let started = 0, ready = 0, failed = 0;
    try {
      const profile = await cellProfile(state, cell.image);
      await prepare(profile);
      // A storm on few cores is slow but not hung: never time out before
      // three times the cell's estimated duration.
      const timeout = chooseTimeout({
        flagMs: state.options.timeoutMs,
        profileMs: profile.timeoutMs,
        estimateSeconds: cell.estimate?.worstSeconds ??
          cell.estimate?.seconds ?? null,
      });
      const { runDir, record, result } = await runBatch(profile, {
        count: cell.count,
        pattern: cell.pattern,
        accel: state.accelerator!,
        params: cell.params,
        timeoutMs: timeout.ms,
        timeoutReason: { source: timeout.source, reason: timeout.reason },
        outDir: join(dir, "runs"),
        signal: options.signal,
        insns: state.options.insns ?? false,
        ...memorySampling(
          state.options.memorySource,
          state.options.memoryQuietKib,
        ),
        extra: {
          sweep: {
            sweep_id: state.sweep_id,
            cell: cell.id,
            experiment: cell.experiment ?? null,
          },
        },
        onEvent: (ev) => {
          if (ev.type === "started") started++;
          else if (ev.outcome === "ready") ready++;
          else failed++;
          options.onEvent?.({ type: "instance", cell, started, ready, failed });
        },
      });
      cell.run_dir = runDir;
      cell.run_id = record.run_id;
      cell.state = result.interrupted
        ? "partial"
        : record.status === "failed"
        ? "failed"
        : "done";
      cell.failure = record.failure ?? null;
      cell.error = record.failure?.reason ?? null;
    } catch (e) {
      cell.state = "failed";
      cell.error = (e as Error).message;
    }
    saveSweep(dir, state);
    options.onEvent?.({
      type: "cell-end",
      cell,
      summary: cell.run_dir ? summarizeCell(cell) : null,
    });
  }
  writeSummary(dir, state);
  return state;
}

/**
 * The runBatch options of a `--memory-source` choice: a source, or no
 * sampling at all (`off`).
 *
 * @example
 * ```ts
 * memorySampling("off"); // { sampleIntervalMs: 0 }
 * memorySampling("worker"); // { memorySource: "worker", memoryQuietStepKib: undefined }
 * memorySampling(undefined, 0); // { memorySource: "c-sampler", memoryQuietStepKib: 0 }
 * ```
 */
export function memorySampling(
  choice: "c-sampler" | "worker" | "off" | undefined,
  quietKib?: number,
): {
  sampleIntervalMs?: number;
  memorySource?: "c-sampler" | "worker";
  memoryQuietStepKib?: number;
} {
  if (choice === "off") return { sampleIntervalMs: 0 };
  return { memorySource: choice ?? "c-sampler", memoryQuietStepKib: quietKib };
}
