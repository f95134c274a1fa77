/**
 * What appending rows costs the launcher's main thread while guests boot:
 * the Arrow record batch of each flush, three ways, for both tables.
 * - memory: 100 appends of 200 rows (a 2 kHz sampler drained every 100 ms);
 * - instances: 100 appends of 16 rows of the 38 instance columns (a
 *   256-storm's flushes every 500 ms hold about that many).
 *
 * The ways: `encodeBatch` (the launcher's own record-batch writer), and
 * apache-arrow's `tableToIPC` of a table built from typed arrays
 * (`makeData`, what `encodeBatch` did before) or through its builders
 * (`vectorFromArray`), and flechette's `tableFromArrays` + `tableToIPC`.
 * Then the CSV lines and the whole writer (checks, both files). The first
 * pass is what a storm pays: its code runs a few dozen times per storm,
 * mostly before V8 has optimised it.
 *
 * ```sh
 * deno run -A --v8-flags=--no-concurrent-recompilation,--no-concurrent-osr bench/writer_bench.ts
 * ```
 *
 * @module
 */
import {
  type DataType,
  Float64,
  Int32,
  makeData,
  makeVector,
  Table,
  tableToIPC,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import * as flechette from "@uwdata/flechette";
import { DatasetWriter } from "../dataset/writer.ts";
import { encodeBatch } from "../dataset/arrow_codec.ts";
import { csvLines } from "../dataset/csv_codec.ts";
import {
  type ColumnSpec,
  INSTANCE_COLUMNS,
  MEMORY_COLUMNS,
} from "../dataset/schema.ts";

type Row = Record<string, unknown>;
const memoryRows = (n: number, k: number): Row[] =>
  Array.from({ length: n }, (_, i) => ({
    t_ms: k * 100 + i * 0.5,
    used_kib: i % 20 === 0 ? 1e6 + i : null,
    run_used_kib: 5e5 + i * 3.25,
    booting: i % 256,
  }));
const instanceRows = (n: number, k: number): Row[] =>
  Array.from({ length: n }, (_, i) =>
    Object.fromEntries(
      INSTANCE_COLUMNS.map((c, j) => [
        c.name,
        (i + j) % 7 === 0
          ? null
          : c.type === "utf8"
          ? `ready-${k}-${i}`
          : c.type === "int32"
          ? k * 16 + i
          : k * 100 + i * 1.25 + j,
      ]),
    ));

const arrowType = (c: ColumnSpec): DataType =>
  c.type === "int32"
    ? new Int32()
    : c.type === "float64"
    ? new Float64()
    : new Utf8();

function viaMakeData(cols: readonly ColumnSpec[], b: Row[]): Uint8Array {
  const v: Record<string, Vector> = {};
  for (const c of cols) {
    if (c.type === "utf8") {
      v[c.name] = vectorFromArray(
        b.map((r) => r[c.name] ?? null) as never,
        new Utf8(),
      ) as Vector;
      continue;
    }
    const data = c.type === "int32"
      ? new Int32Array(b.length)
      : new Float64Array(b.length);
    let nullBitmap: Uint8Array | undefined;
    let nullCount = 0;
    for (let i = 0; i < b.length; i++) {
      const x = b[i][c.name];
      if (x === null || x === undefined) {
        nullBitmap ??= new Uint8Array((b.length + 7) >> 3).fill(0xff);
        nullBitmap[i >> 3] &= ~(1 << (i & 7));
        nullCount++;
      } else data[i] = x as number;
    }
    v[c.name] = makeVector(
      makeData({
        type: arrowType(c) as Float64,
        length: b.length,
        nullCount,
        nullBitmap,
        data: data as Float64Array,
      }),
    ) as Vector;
  }
  return tableToIPC(new Table(v), "stream");
}

function viaBuilders(cols: readonly ColumnSpec[], b: Row[]): Uint8Array {
  const v: Record<string, Vector> = {};
  for (const c of cols) {
    v[c.name] = vectorFromArray(
      b.map((r) => r[c.name] ?? null) as never,
      arrowType(c),
    ) as Vector;
  }
  return tableToIPC(new Table(v), "stream");
}

const fType = (c: ColumnSpec) =>
  c.type === "int32"
    ? flechette.int32()
    : c.type === "float64"
    ? flechette.float64()
    : flechette.utf8();
function viaFlechette(cols: readonly ColumnSpec[], b: Row[]): Uint8Array {
  const data: Record<string, unknown[]> = {};
  const types: Record<string, ReturnType<typeof fType>> = {};
  for (const c of cols) {
    data[c.name] = b.map((r) => r[c.name] ?? null);
    types[c.name] = fType(c);
  }
  return flechette.tableToIPC(flechette.tableFromArrays(data, { types }), {
    format: "stream",
  })!;
}

const tables: [string, readonly ColumnSpec[], Row[][]][] = [
  [
    "memory, 100 × 200 rows",
    MEMORY_COLUMNS,
    Array.from({ length: 100 }, (_, k) => memoryRows(200, k)),
  ],
  [
    "instances, 100 × 16 rows",
    INSTANCE_COLUMNS,
    Array.from({ length: 100 }, (_, k) => instanceRows(16, k)),
  ],
];
const ways: [string, (cols: readonly ColumnSpec[], b: Row[]) => unknown][] = [
  // the launcher's own writer first: its first pass finds nothing warm
  ["encodeBatch (own record-batch writer)", encodeBatch],
  ["apache-arrow, makeData + tableToIPC (before)", viaMakeData],
  ["apache-arrow, vectorFromArray + tableToIPC", viaBuilders],
  ["flechette, tableFromArrays + tableToIPC", viaFlechette],
  ["CSV lines", csvLines],
];
for (const [table, cols, batches] of tables) {
  for (const [name, f] of ways) {
    const times: number[] = [];
    for (let w = 0; w < 5; w++) {
      const t = performance.now();
      for (const b of batches) f(cols, b);
      times.push(performance.now() - t);
    }
    const first = times[0];
    times.sort((a, b) => a - b);
    console.log(
      `${table}: ${name}: first pass ${first.toFixed(1)} ms, median of 5 ${
        times[2].toFixed(1)
      } ms`,
    );
  }
}
const dir = await Deno.makeTempDir();
const w = DatasetWriter.create(dir, { schema_version: 3 } as never);
const t = performance.now();
for (const b of tables[0][2]) {
  w.pushMemory(b as never);
  w.flush();
}
console.log(
  `whole writer, memory push + flush, 100 × 200 rows: ${
    (performance.now() - t).toFixed(1)
  } ms`,
);
await Deno.remove(dir, { recursive: true });
