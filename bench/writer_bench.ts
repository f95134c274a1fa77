/**
 * What appending memory rows costs the launcher's main thread: 100 appends
 * of 200 memory rows (a 2 kHz sampler drained every 100 ms), encoded as
 * Arrow record batches through apache-arrow's `vectorFromArray` (its generic
 * builders) and through `encodeBatch` (typed arrays handed over with
 * `makeData`), the CSV lines, and the whole writer (checks, both files).
 * The first pass is what a storm pays: its code runs about 100 times per
 * storm, mostly before V8 has optimised it.
 *
 * ```sh
 * deno run -A --v8-flags=--no-concurrent-recompilation,--no-concurrent-osr bench/writer_bench.ts
 * ```
 *
 * @module
 */
import {
  Float64,
  Int32,
  Table,
  tableToIPC,
  vectorFromArray,
} from "apache-arrow";
import { DatasetWriter } from "../dataset/writer.ts";
import { encodeBatch } from "../dataset/arrow_codec.ts";
import { csvLines } from "../dataset/csv_codec.ts";
import { MEMORY_COLUMNS } from "../dataset/schema.ts";

const rows = (n: number, k: number) =>
  Array.from({ length: n }, (_, i) => ({
    t_ms: k * 100 + i * 0.5,
    used_kib: i % 20 === 0 ? 1e6 + i : null,
    run_used_kib: 5e5 + i * 3.25,
    booting: i % 256,
  }));
const batches = Array.from({ length: 100 }, (_, k) => rows(200, k));

function viaBuilders(b: Record<string, unknown>[]): Uint8Array {
  const v: Record<string, ReturnType<typeof vectorFromArray>> = {};
  for (const c of MEMORY_COLUMNS) {
    v[c.name] = vectorFromArray(
      b.map((r) => (r[c.name] ?? null) as never),
      c.type === "int32" ? new Int32() : new Float64(),
    );
  }
  return tableToIPC(new Table(v), "stream");
}

const cases: [string, (b: Record<string, unknown>[]) => unknown][] = [
  [
    "Arrow batch via encodeBatch (makeData)",
    (b) => encodeBatch(MEMORY_COLUMNS, b),
  ],
  ["CSV lines", (b) => csvLines(MEMORY_COLUMNS, b)],
  // after encodeBatch: its first pass finds arrow's IPC writer warm
  ["Arrow batch via vectorFromArray", viaBuilders],
];
for (const [name, f] of cases) {
  const times: number[] = [];
  for (let w = 0; w < 5; w++) {
    const t = performance.now();
    for (const b of batches) f(b);
    times.push(performance.now() - t);
  }
  const first = times[0];
  times.sort((a, b) => a - b);
  console.log(
    `${name}: first pass ${first.toFixed(1)} ms, median of 5 ${
      times[2].toFixed(1)
    } ms, for 100 × 200 rows`,
  );
}
const dir = await Deno.makeTempDir();
const w = DatasetWriter.create(dir, { schema_version: 3 } as never);
const t = performance.now();
for (const b of batches) {
  w.pushMemory(b as never);
  w.flush();
}
console.log(
  `whole writer, push + flush: ${(performance.now() - t).toFixed(1)} ms`,
);
await Deno.remove(dir, { recursive: true });
