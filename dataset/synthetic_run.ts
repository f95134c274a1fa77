/**
 * Test and benchmark helper: write run folders the way the launcher does
 * (run.json, Arrow IPC stream with one record batch per append, CSV), with
 * apache-arrow, plus a small simulator of back-to-back storms with known
 * ground truth.
 *
 * @module
 */

import {
  Field,
  Float64,
  Int32,
  makeData,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Utf8,
} from "apache-arrow";
import { join } from "node:path";
import {
  type ColumnSpec,
  type ColumnType,
  INSTANCE_COLUMNS,
  MEMORY_COLUMNS,
  SCHEMA_VERSION,
} from "./schema.ts";
import { mulberry32 } from "./prng.ts";
import { columnBuffers } from "./arrow_codec.ts";

/** Values of one column: plain arrays (null = null) or typed arrays (Float64Array NaN = null). */
export type ColumnValues =
  | ArrayLike<number | string | null>
  | Float64Array
  | Int32Array;

/** Columns by name; a nullable column left out is written all null. */
export type Columns = Record<string, ColumnValues>;

/** How to write a fixture run folder. */
export interface WriteOptions {
  /** Rows per Arrow record batch (default 1: one batch per instance, like the launcher). */
  batchRows?: number;
  /** Write the end-of-stream marker (default true; false = launcher crashed between appends). */
  endMarker?: boolean;
  /** Write instances.arrow / memory.arrow (default true). */
  arrow?: boolean;
  /** Write instances.csv / memory.csv (default true). */
  csv?: boolean;
  /** Leave these columns out (wrong-schema tests). */
  omit?: string[];
  /** Write these columns with another Arrow type (wrong-schema tests). */
  types?: Record<string, ColumnType>;
}

/** A default run.json for a fixture, overridden by `record`. */
export function runRecord(
  /** The run.json fields. */
  record: Record<string, unknown> & { run_id: string; count: number },
): Record<string, unknown> {
  return {
    schema_version: SCHEMA_VERSION,
    status: "complete",
    started_at: "2025-01-01T00:00:00.000Z",
    finished_at: "2025-01-01T00:00:10.000Z",
    host: {
      cpu_model: "fixture CPU",
      cores: 2,
      mem_total_kib: 24 * 1024 * 1024,
      kernel: "6.1.0",
      hostname: "fixture",
    },
    accelerator: { kind: "tcg", reason: "fixture" },
    qemu: { path: "/usr/bin/qemu-system-x86_64", version: "7.2.0" },
    profile: {
      name: "minkernel",
      class: "baseline",
      path: "images/profiles/minkernel.json",
    },
    image: { path: "build/minkernel/minkernel.elf", sha256: "0", bytes: 1 },
    argv: ["qemu-system-x86_64"],
    params: {},
    pattern: { kind: "back-to-back" },
    timeout_ms: 30000,
    teardown: "kill-after-ready",
    toolkit: { version: "0.1.0", git_commit: "fixture" },
    deno: { version: "2.9.6" },
    memory_sampler: {
      target_hz: 2000,
      achieved_hz: 500,
      samples: 0,
      worst_gap_ms: 5,
    },
    totals: { ready: 0, failed: 0 },
    ...record,
  };
}

function rowCount(cols: Columns): number {
  for (const v of Object.values(cols)) return v.length;
  return 0;
}

function valueAt(
  v: ColumnValues | undefined,
  i: number,
): number | string | null {
  if (!v) return null;
  const x = v[i];
  if (x === undefined || x === null) return null;
  if (typeof x === "number" && Number.isNaN(x)) return null;
  return x;
}

function arrowData(
  type: ColumnType,
  values: ColumnValues | undefined,
  start: number,
  end: number,
) {
  const n = end - start;
  const b = columnBuffers(type, n, (i) => valueAt(values, start + i));
  const common = { length: n, nullCount: b.nullCount, nullBitmap: b.validity };
  return type === "utf8"
    ? makeData({
      type: new Utf8(),
      ...common,
      valueOffsets: b.offsets!,
      data: b.data as Uint8Array,
    })
    : type === "int32"
    ? makeData({ type: new Int32(), ...common, data: b.data as Int32Array })
    : makeData({
      type: new Float64(),
      ...common,
      data: b.data as Float64Array,
    });
}

/**
 * Encode columns as an Arrow IPC stream with `batchRows` rows per record
 * batch, typed per `specs`.
 */
export function toArrowStream(
  cols: Columns,
  specs: readonly ColumnSpec[],
  options: WriteOptions = {},
): Uint8Array {
  const { batchRows = 1, endMarker = true, omit = [], types = {} } = options;
  const used = specs.filter((s) => !omit.includes(s.name));
  const typeOf = (s: ColumnSpec) => types[s.name] ?? s.type;
  const arrowType = (t: ColumnType) =>
    t === "utf8" ? new Utf8() : t === "int32" ? new Int32() : new Float64();
  const schema = new Schema(
    used.map((s) => new Field(s.name, arrowType(typeOf(s)), s.nullable)),
  );
  const writer = new RecordBatchStreamWriter();
  writer.reset(undefined, schema);
  const n = rowCount(cols);
  for (let s = 0; s < n; s += batchRows) {
    const e = Math.min(n, s + batchRows);
    const children = used.map((spec) =>
      arrowData(typeOf(spec), cols[spec.name], s, e)
    );
    const data = makeData({
      type: new Struct(schema.fields),
      length: e - s,
      nullCount: 0,
      children,
    });
    writer.write(new RecordBatch(schema, data));
  }
  writer.finish();
  const bytes = writer.toUint8Array(true);
  if (endMarker) return bytes;
  // the end-of-stream marker is 0xFFFFFFFF 0x00000000
  return bytes.subarray(0, bytes.length - 8);
}

/** Encode columns as CSV (header in schema order, null → empty field). */
export function toCsv(
  cols: Columns,
  specs: readonly ColumnSpec[],
  options: WriteOptions = {},
): string {
  const used = specs.filter((s) => !(options.omit ?? []).includes(s.name));
  const n = rowCount(cols);
  const lines = [used.map((s) => s.name).join(",")];
  for (let i = 0; i < n; i++) {
    lines.push(
      used.map((s) => {
        const x = valueAt(cols[s.name], i);
        if (x === null) return "";
        const t = String(x);
        return /[",\n\r]/.test(t) ? `"${t.replaceAll('"', '""')}"` : t;
      }).join(","),
    );
  }
  return lines.join("\n") + "\n";
}

/** A fixture run: run.json fields and the two tables. */
export interface RunFixture {
  /** The run.json fields. */
  record: Record<string, unknown> & { run_id: string; count: number };
  /** The instance table, column-wise. */
  instances: Columns;
  /** The memory table, column-wise. */
  memory: Columns;
}

/** Write a run folder (run.json, instances.{arrow,csv}, memory.{arrow,csv}); returns its path. */
export async function writeRunFolder(
  dir: string,
  fixture: RunFixture,
  options: WriteOptions = {},
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const { arrow = true, csv = true } = options;
  // Memory columns the fixture leaves out: null when they may be, and not
  // written at all when the record's version predates them.
  const version = Number(runRecord(fixture.record).schema_version);
  const memSpecs = (MEMORY_COLUMNS as readonly ColumnSpec[]).filter((c) =>
    (c.since ?? 1) <= version
  );
  const memRows = rowCount(fixture.memory);
  const memory: Columns = { ...fixture.memory };
  for (const c of memSpecs) {
    if (memory[c.name] === undefined && c.nullable) {
      memory[c.name] = new Array(memRows).fill(null);
    }
  }
  fixture = { ...fixture, memory };
  await Deno.writeTextFile(
    join(dir, "run.json"),
    JSON.stringify(runRecord(fixture.record), null, 2),
  );
  if (arrow) {
    await Deno.writeFile(
      join(dir, "instances.arrow"),
      toArrowStream(fixture.instances, INSTANCE_COLUMNS, options),
    );
    await Deno.writeFile(
      join(dir, "memory.arrow"),
      toArrowStream(fixture.memory, memSpecs, {
        ...options,
        omit: [],
        types: {},
      }),
    );
  }
  if (csv) {
    await Deno.writeTextFile(
      join(dir, "instances.csv"),
      toCsv(fixture.instances, INSTANCE_COLUMNS, options),
    );
    await Deno.writeTextFile(
      join(dir, "memory.csv"),
      toCsv(fixture.memory, memSpecs),
    );
  }
  return dir;
}

/** Row-wise instance description for small hand-made fixtures. */
export interface InstanceInput {
  t_s_ms: number;
  boot_ms: number | null;
  concurrency_at_start: number;
  outcome?: string;
  rss_peak_kib?: number | null;
  first_output_boot_ms?: number | null;
  cpu_ready_ms?: number | null;
  /** Boot-work columns (--insns runs). */
  insns_guest_ready?: number | null;
  guest_code_insns_ready?: number | null;
  cr3_writes_ready?: number | null;
  syscalls_ready?: number | null;
}

const OPTIONAL_INPUTS = [
  "cpu_ready_ms",
  "insns_guest_ready",
  "guest_code_insns_ready",
  "cr3_writes_ready",
  "syscalls_ready",
] as const;

/** Turn hand-made rows into full instance columns (derived columns filled consistently). */
export function instanceColumns(rows: readonly InstanceInput[]): Columns {
  const outcome = rows.map((r) =>
    r.outcome ?? (r.boot_ms === null ? "timeout" : "ready")
  );
  const ready = rows.map((r, i) =>
    outcome[i] === "ready" ? r.t_s_ms + (r.boot_ms ?? 0) : null
  );
  const end = rows.map((r, i) => ready[i] ?? r.t_s_ms + 30000);
  return {
    instance: rows.map((_, i) => i),
    scheduled_ms: rows.map(() => null),
    t_s_ms: rows.map((r) => r.t_s_ms),
    first_output_ms: rows.map((r, i) =>
      r.first_output_boot_ms === undefined
        ? ready[i]
        : r.first_output_boot_ms === null
        ? null
        : r.t_s_ms + r.first_output_boot_ms
    ),
    ready_ms: ready,
    exit_ms: end.map((e) => e + 1),
    boot_end_ms: end,
    boot_ms: rows.map((r, i) => outcome[i] === "ready" ? r.boot_ms : null),
    first_output_boot_ms: rows.map((r, i) =>
      r.first_output_boot_ms === undefined
        ? (outcome[i] === "ready" ? r.boot_ms : null)
        : r.first_output_boot_ms
    ),
    concurrency_at_start: rows.map((r) => r.concurrency_at_start),
    outcome,
    exit_code: rows.map(() => null),
    signal: rows.map(() => "SIGKILL"),
    rss_peak_kib: rows.map((r) => r.rss_peak_kib ?? 40000),
    output_bytes: rows.map(() => 6),
    pid: rows.map((_, i) => 1000 + i),
    error: outcome.map((o) => o === "ready" ? null : "timed out"),
    ...Object.fromEntries(
      OPTIONAL_INPUTS.filter((k) => rows.some((r) => r[k] !== undefined)).map((
        k,
      ) => [
        k,
        rows.map((r, i) => outcome[i] === "ready" ? r[k] ?? null : null),
      ]),
    ),
  };
}

/** Parameters of {@link simulateStorm}. */
export interface StormParams {
  /** The run id (and folder name). */
  runId: string;
  /** The image (profile) name. */
  image: string;
  /** The class the profile declares, or null. */
  cls: "baseline" | "libos" | "linux" | null;
  /** Number of instances N. */
  n: number;
  /** Boot time alone, ms. */
  baseMs: number;
  /** Extra boot time per instance already booting, ms. */
  perConcurrentMs: number;
  /** Relative noise (lognormal-ish sd), e.g. 0.05. */
  noise?: number;
  /** Peak RSS per instance, KiB. */
  rssKib: number;
  /** Fraction of the boot after the first output (0 = ready at first byte). */
  gapFraction?: number;
  /** Ms between spawns (default 2: back-to-back on a slow spawn path). */
  spawnGapMs?: number;
  /** Host memory in use before the run, KiB. */
  hostKib?: number;
  /** Memory sample period, ms (default 5). */
  samplePeriodMs?: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /** Host description for run.json. */
  host?: Record<string, unknown>;
  /** Accelerator recorded in run.json (default tcg). */
  accelerator?: "kvm" | "tcg";
  /** CPU per boot, ms (cpu_ready_ms; grows by 10% per 8 concurrent). */
  cpuMs?: number;
  /** Boot work of the guest (a --insns run): footprint, dynamic, CR3 writes, syscalls. */
  work?: { code: number; guest: number; cr3: number; syscalls: number };
}

/**
 * Simulate a back-to-back storm: instance i starts at i·spawnGap, its boot
 * takes base + perConcurrent·(instances booting at its start) with noise;
 * memory is the host's plus the RSS of every started, not yet ended
 * instance. Ground truth: boot and memory grow together across images.
 */
export function simulateStorm(p: StormParams): RunFixture {
  const rand = mulberry32(p.seed ?? 1);
  const gauss = () => {
    const u = 1 - rand();
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const gap = p.spawnGapMs ?? 2;
  const rows: InstanceInput[] = [];
  const ends: number[] = [];
  for (let i = 0; i < p.n; i++) {
    const ts = i * gap;
    const conc = ends.filter((e) => e > ts).length;
    const boot = (p.baseMs + p.perConcurrentMs * conc) *
      Math.exp((p.noise ?? 0.05) * gauss());
    const rss = Math.round(p.rssKib * Math.exp(0.02 * gauss()));
    rows.push({
      t_s_ms: ts,
      boot_ms: boot,
      concurrency_at_start: conc,
      rss_peak_kib: rss,
      first_output_boot_ms: boot * (1 - (p.gapFraction ?? 0)),
      ...(p.cpuMs
        ? {
          cpu_ready_ms: p.cpuMs * (1 + 0.1 * conc / 8) *
            Math.exp(0.03 * gauss()),
        }
        : {}),
      ...(p.work
        ? {
          guest_code_insns_ready: p.work.code,
          insns_guest_ready: Math.round(p.work.guest * Math.exp(0.2 * gauss())),
          cr3_writes_ready: p.work.cr3,
          syscalls_ready: p.work.syscalls,
        }
        : {}),
    });
    ends.push(ts + boot);
  }
  const instances = instanceColumns(rows);
  const last = Math.max(...ends);
  const period = p.samplePeriodMs ?? 5;
  const t: number[] = [];
  const used: number[] = [];
  const booting: number[] = [];
  const host = p.hostKib ?? 2_000_000;
  for (let s = 0; s <= last + period; s += period) {
    let mem = host;
    let b = 0;
    rows.forEach((r, i) => {
      if (r.t_s_ms <= s && s < ends[i]) {
        b++;
        // memory is touched progressively during the boot
        mem += (r.rss_peak_kib ?? 0) *
          Math.min(1, (s - r.t_s_ms) / (ends[i] - r.t_s_ms) + 0.3);
      }
    });
    t.push(s);
    used.push(Math.round(mem));
    booting.push(b);
  }
  return {
    record: {
      run_id: p.runId,
      count: p.n,
      profile: {
        name: p.image,
        class: p.cls,
        path: `images/profiles/${p.image}.json`,
      },
      image: { path: `build/${p.image}.elf`, sha256: "0", bytes: 1 },
      totals: { ready: p.n, failed: 0 },
      ...(p.host ? { host: p.host } : {}),
      ...(p.accelerator
        ? { accelerator: { kind: p.accelerator, reason: "fixture" } }
        : {}),
      ...(p.work ? { insns: { fixture: true } } : {}),
    },
    instances,
    memory: { t_ms: t, used_kib: used, booting },
  };
}
