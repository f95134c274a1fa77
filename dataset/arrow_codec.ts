/**
 * Pure Arrow IPC *stream* codec for appendable datasets: a schema message
 * written once, then one record-batch message per append, then an
 * end-of-stream marker when the run is finalised. A file cut short after any
 * complete append still reads back with `tableFromIPC`.
 *
 * @module
 */
import {
  type DataType,
  Float64,
  Int32,
  Table,
  tableFromIPC,
  tableToIPC,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import type { ColumnSpec, ColumnType } from "./schema.ts";

/** Arrow IPC end-of-stream marker (continuation token + zero length). */
export const ARROW_EOS: Uint8Array = new Uint8Array([
  0xff,
  0xff,
  0xff,
  0xff,
  0,
  0,
  0,
  0,
]);

function arrowType(t: ColumnType): DataType {
  return t === "int32"
    ? new Int32()
    : t === "float64"
    ? new Float64()
    : new Utf8();
}

/** An empty table of `columns`: what the schema message is made from. */
function emptyTable(columns: readonly ColumnSpec[]): Table {
  const vectors: Record<string, Vector> = {};
  for (const c of columns) {
    vectors[c.name] = vectorFromArray([], arrowType(c.type)) as Vector;
  }
  return new Table(vectors);
}

/** Length of the leading schema message: continuation, length, metadata. */
function schemaMessageLength(stream: Uint8Array): number {
  const view = new DataView(stream.buffer, stream.byteOffset, 8);
  return 8 + view.getInt32(4, true);
}

/**
 * The bytes of the stream's schema message.
 *
 * @example
 * ```ts
 * import { encodeSchema } from "./arrow_codec.ts";
 * const bytes = encodeSchema([{ name: "t_ms", type: "float64", nullable: false, doc: "" }]);
 * console.log(bytes.length > 0); // true
 * ```
 */
export function encodeSchema(columns: readonly ColumnSpec[]): Uint8Array {
  const full = tableToIPC(emptyTable(columns), "stream");
  return full.slice(0, schemaMessageLength(full));
}

/**
 * The bytes of one record-batch message holding `rows` (no schema, no EOS),
 * to append after `encodeSchema(columns)`.
 *
 * Written here, not through apache-arrow: the launcher appends a batch to
 * each table every 500 ms while guests boot, and apache-arrow builds a
 * table and a whole IPC stream (schema included) for each one, cold code
 * that ran ~6 ms per flush on the main thread of a 256-storm (`perf record`
 * of `bench/launcher_cpu.ts 256 on`: the flushes were 18% of the launcher's
 * CPU from T_0). `deno run -A bench/writer_bench.ts` measures them side
 * by side: over 100 appends (first pass) of 16 instance rows, 24 ms this
 * way against 265-305 ms through apache-arrow and 228 ms through flechette
 * (bench/README.md). The message is the one
 * the Arrow IPC format defines (Message.fbs, Schema.fbs: a flatbuffer
 * `Message` holding a `RecordBatch`, then the body, every buffer 8-byte
 * aligned); apache-arrow and flechette both read it back in the tests.
 *
 * @example
 * ```ts
 * import { ARROW_EOS, encodeBatch, encodeSchema } from "./arrow_codec.ts";
 * import { tableFromIPC } from "apache-arrow";
 * const cols = [{ name: "x", type: "int32" as const, nullable: true, doc: "" }];
 * const s = encodeSchema(cols), b = encodeBatch(cols, [{ x: 1 }, { x: null }]);
 * const all = new Uint8Array([...s, ...b, ...ARROW_EOS]);
 * console.log(tableFromIPC(all).numRows); // 2
 * ```
 */
export function encodeBatch(
  columns: readonly ColumnSpec[],
  rows: readonly Record<string, unknown>[],
): Uint8Array {
  const n = rows.length;
  if (n === 0) return new Uint8Array(0);
  // The body's buffers: per column validity, then (text) offsets, then data.
  const buffers: Uint8Array[] = [];
  const nulls: number[] = [];
  for (const c of columns) {
    const b = columnBuffers(c.type, n, (i) => rows[i][c.name]);
    buffers.push(b.validity ?? EMPTY);
    if (b.offsets) buffers.push(new Uint8Array(b.offsets.buffer));
    buffers.push(new Uint8Array(b.data.buffer));
    nulls.push(b.nullCount);
  }
  return recordBatchMessage(n, nulls, buffers);
}

/** The Arrow buffers of one column (see {@link columnBuffers}). */
export interface ColumnBuffers {
  /** Nulls among the values. */
  nullCount: number;
  /** Validity bitmap (bit set: a value), 8-byte padded; null without nulls. */
  validity: Uint8Array | null;
  /** Text columns: where each value starts in `data` (n + 1 offsets). */
  offsets: Int32Array | null;
  /** The values: UTF-8 bytes, or an Int32Array / Float64Array (0 at nulls). */
  data: Uint8Array | Int32Array | Float64Array;
}

/**
 * The Arrow buffers of a column of `n` values of `type`, value `i` from
 * `valueAt(i)` (null or undefined: null). What a record batch's body holds
 * per column, for the launcher's own writer ({@link encodeBatch}) and for
 * apache-arrow's `makeData` (dataset/synthetic_run.ts). Repeated strings are
 * encoded once.
 *
 * @example
 * ```ts
 * import { columnBuffers } from "./arrow_codec.ts";
 * const b = columnBuffers("utf8", 3, (i) => ["ready", null, "ready"][i]);
 * console.log(b.nullCount, [...b.offsets!], b.validity![0]); // 1 [ 0, 5, 5, 10 ] 5
 * ```
 */
export function columnBuffers(
  type: ColumnType,
  n: number,
  valueAt: (i: number) => unknown,
): ColumnBuffers {
  const validity = new Uint8Array(((n + 63) >> 6) << 3);
  let nullCount = 0;
  if (type === "utf8") {
    const enc = new TextEncoder();
    const cache = new Map<string, Uint8Array>();
    const offsets = new Int32Array(n + 1);
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const v = valueAt(i);
      if (v === null || v === undefined) nullCount++;
      else {
        validity[i >> 3] |= 1 << (i & 7);
        const t = String(v);
        let b = cache.get(t);
        if (!b) cache.set(t, b = enc.encode(t));
        parts.push(b);
        total += b.length;
      }
      offsets[i + 1] = total;
    }
    const data = new Uint8Array(total);
    let at = 0;
    for (const b of parts) {
      data.set(b, at);
      at += b.length;
    }
    return { nullCount, validity: nullCount ? validity : null, offsets, data };
  }
  const data = type === "int32" ? new Int32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = valueAt(i);
    if (v === null || v === undefined) nullCount++;
    else {
      validity[i >> 3] |= 1 << (i & 7);
      data[i] = Number(v);
    }
  }
  return {
    nullCount,
    validity: nullCount ? validity : null,
    offsets: null,
    data,
  };
}

const EMPTY = new Uint8Array(0);
const pad8 = (x: number) => (x + 7) & ~7;

/**
 * The IPC message of one record batch: continuation, metadata length, the
 * flatbuffer `Message { version: V5, header: RecordBatch { length, nodes,
 * buffers }, bodyLength }`, then the body. Layout of the flatbuffer (byte
 * offsets; tables point back to their vtables, fields forward to their
 * children, every int64 8-aligned):
 *   0 root offset → 16 | 4 Message vtable | 16 Message table (soffset,
 *   header → 56, bodyLength, version, header_type) | 40 RecordBatch vtable |
 *   56 RecordBatch table (soffset, nodes → 84, length, buffers) | 84 nodes
 *   vector | then the buffers vector, its elements 8-aligned.
 */
function recordBatchMessage(
  n: number,
  nulls: readonly number[],
  buffers: readonly Uint8Array[],
): Uint8Array {
  const nodesAt = 84;
  const buffersAt = nodesAt + 4 + 16 * nulls.length + 4;
  const fbLength = buffersAt + 4 + 16 * buffers.length;
  let bodyLength = 0;
  for (const b of buffers) bodyLength += pad8(b.length);
  const out = new Uint8Array(8 + fbLength + bodyLength);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xffffffff, true);
  v.setInt32(4, fbLength, true);
  const o = 8; // the flatbuffer's start
  const u16 = (at: number, x: number) => v.setUint16(o + at, x, true);
  const i32 = (at: number, x: number) => v.setInt32(o + at, x, true);
  const i64 = (at: number, x: number) => v.setBigInt64(o + at, BigInt(x), true);
  i32(0, 16); // root: the Message table
  // Message vtable: its size, the table's size, fields 0-3.
  u16(4, 12), u16(6, 24), u16(8, 16), u16(10, 18), u16(12, 4), u16(14, 8);
  i32(16, 16 - 4); // the table's vtable, 12 bytes back
  i32(20, 56 - 20); // header → the RecordBatch table
  i64(24, bodyLength);
  u16(32, 4); // version: V5
  out[o + 34] = 3; // header_type: RecordBatch
  // RecordBatch vtable: fields length, nodes, buffers.
  u16(40, 10), u16(42, 24), u16(44, 8), u16(46, 4), u16(48, 16);
  i32(56, 56 - 40);
  i32(60, nodesAt - 60);
  i64(64, n);
  i32(72, buffersAt - 72);
  i32(nodesAt, nulls.length);
  for (let k = 0; k < nulls.length; k++) {
    i64(nodesAt + 4 + 16 * k, n);
    i64(nodesAt + 12 + 16 * k, nulls[k]);
  }
  i32(buffersAt, buffers.length);
  let at = 0;
  const body = 8 + fbLength;
  for (let k = 0; k < buffers.length; k++) {
    const b = buffers[k];
    i64(buffersAt + 4 + 16 * k, at);
    i64(buffersAt + 12 + 16 * k, b.length);
    out.set(b, body + at);
    at += pad8(b.length);
  }
  return out;
}

/** Decode an Arrow IPC stream or file into plain row objects. */
export function decodeRows(bytes: Uint8Array): Record<string, unknown>[] {
  const t = tableFromIPC(bytes);
  return t.toArray().map((r) => ({ ...r.toJSON() }));
}
