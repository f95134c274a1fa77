/**
 * Column access for the hot paths: pull a table column into a typed array
 * (null → NaN) straight from Arrow record-batch buffers when the table is
 * Arrow-backed, factorize key columns, and concatenate run tables without
 * copying their Arrow buffers. Every function respects arquero filters and
 * orderings (it reads rows in `table.indices()` order).
 *
 * Kept hand-written: `numberColumn`, `equalsMask`, `groupKeys` feed the
 * typed-array fast paths of the bins, the summaries and the booting-at-peak
 * count, which the 10 M-row benchmark keeps
 * (bench/results/analysis-arquero-2026-12-01.md; arquero's `groupby` alone
 * needs 1.3–2.2 s on 10 M rows), and features.ts; `concatTables` and
 * `RunLengthColumn` are how load.ts stacks runs without copying (the
 * loader, with arrow_read.ts and arrow_stream.ts, is outside this step).
 *
 * @module
 */

import "@uwdata/flechette";
import { Column, Type } from "@uwdata/flechette";
import * as aq from "arquero";
import type { ColumnTable } from "arquero";

/** An arquero table (column-oriented, immutable). */
export type Table = ColumnTable;

/** The minimal column interface arquero accepts. */
export interface ColumnLike<T = unknown> {
  length: number;
  at(row: number): T;
  [Symbol.iterator](): Iterator<T>;
}

/** A flechette batch as seen from here (only the fields the fast paths use). */
interface BatchLike {
  length: number;
  nullCount: number;
  validity?: Uint8Array;
  values?: ArrayLike<number>;
  offsets?: ArrayLike<number>;
  at(i: number): unknown;
}

/** Whether batches of this Arrow column keep their numbers in `values` as is. */
function hasDirectNumbers(col: Column<unknown>): boolean {
  const t = col.type as {
    typeId: number;
    bitWidth?: number;
    precision?: number;
  };
  return (t.typeId === Type.Int && (t.bitWidth ?? 64) < 64) ||
    (t.typeId === Type.Float && (t.precision ?? 0) > 0);
}

/**
 * A column made of runs of one repeated value, e.g. `run_id` on a table that
 * concatenates several runs: O(runs) memory for any number of rows.
 *
 * @example
 * ```ts
 * import { RunLengthColumn } from "./columns.ts";
 * const c = new RunLengthColumn(["a", "b"], [2, 5]); // a a b b b
 * c.at(3); // "b"
 * ```
 */
export class RunLengthColumn<T> implements ColumnLike<T> {
  /** The value of each run. */
  readonly values: readonly T[];
  /** Exclusive end row of each run (cumulative). */
  readonly ends: Int32Array;
  /** Number of rows. */
  readonly length: number;

  constructor(values: readonly T[], ends: ArrayLike<number>) {
    this.values = values;
    this.ends = Int32Array.from(ends);
    this.length = this.ends.length ? this.ends[this.ends.length - 1] : 0;
  }

  /** A column of `length` copies of `value`. */
  static constant<T>(value: T, length: number): RunLengthColumn<T> {
    return new RunLengthColumn([value], [length]);
  }

  /** Index of the run holding `row`. */
  runOf(row: number): number {
    const ends = this.ends;
    let lo = 0;
    let hi = ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid] > row) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Value at `row` (undefined out of range, like Array#at without negatives). */
  at(row: number): T {
    return this.values[this.runOf(row)];
  }

  *[Symbol.iterator](): Iterator<T> {
    let start = 0;
    for (let r = 0; r < this.values.length; r++) {
      for (let i = start; i < this.ends[r]; i++) yield this.values[r];
      start = this.ends[r];
    }
  }

  /** Expand into a plain array. */
  toArray(): T[] {
    const out = new Array<T>(this.length);
    let start = 0;
    for (let r = 0; r < this.values.length; r++) {
      out.fill(this.values[r], start, this.ends[r]);
      start = this.ends[r];
    }
    return out;
  }
}

function isArrowColumn(col: unknown): col is Column<unknown> {
  return col instanceof Column;
}

/** Whether two Arrow columns have the same storage type (id, width, precision). */
function sameType(a: ColumnLike, b: ColumnLike): boolean {
  const ta = (a as Column<unknown>).type as {
    typeId: number;
    bitWidth?: number;
    precision?: number;
  };
  const tb = (b as Column<unknown>).type as {
    typeId: number;
    bitWidth?: number;
    precision?: number;
  };
  return ta.typeId === tb.typeId && ta.bitWidth === tb.bitWidth &&
    ta.precision === tb.precision;
}

/** Row indices to read, or null when the table is read in storage order. */
function rowIndex(table: Table): Uint32Array | null {
  return table.isFiltered() || table.isOrdered() ? table.indices(true) : null;
}

function requireColumn(table: Table, name: string): ColumnLike {
  const col = table.column(name) as ColumnLike | undefined;
  if (!col) {
    throw new Error(
      `Missing column "${name}": the table has ${
        table.columnNames().join(", ") || "no columns"
      }. Load it with loadRun() or add the column.`,
    );
  }
  return col;
}

/** Every value of a column in storage order as float64, null → NaN. */
function storageNumbers(col: ColumnLike): Float64Array {
  const out = new Float64Array(col.length);
  if (isArrowColumn(col)) {
    let base = 0;
    const direct = hasDirectNumbers(col);
    for (const b of col.data as unknown as BatchLike[]) {
      const n = b.length;
      const values = b.values;
      if (direct && values) {
        out.set((values as Float64Array).subarray(0, n), base);
        if (b.nullCount > 0 && b.validity && b.validity.length) {
          const v = b.validity;
          const bytes = (n + 7) >> 3;
          for (let j = 0; j < bytes; j++) {
            const byte = v[j];
            if (byte === 255) continue;
            for (let k = 0; k < 8; k++) {
              const i = (j << 3) + k;
              if (i < n && (byte & (1 << k)) === 0) out[base + i] = NaN;
            }
          }
        }
      } else {
        for (let i = 0; i < n; i++) {
          const x = b.at(i);
          out[base + i] = x === null || x === undefined ? NaN : Number(x);
        }
      }
      base += n;
    }
    return out;
  }
  if (col instanceof Float64Array) return col;
  if (col instanceof RunLengthColumn) {
    let start = 0;
    for (let r = 0; r < col.values.length; r++) {
      const x = col.values[r];
      out.fill(
        x === null || x === undefined ? NaN : Number(x),
        start,
        col.ends[r],
      );
      start = col.ends[r];
    }
    return out;
  }
  const n = col.length;
  for (let i = 0; i < n; i++) {
    const x = col.at(i);
    out[i] = x === null || x === undefined ? NaN : Number(x);
  }
  return out;
}

/**
 * A numeric column as a Float64Array in table row order (filter and
 * ordering applied), null → NaN. Arrow-backed columns are copied straight
 * from their buffers. The result may share memory with the table: do not
 * modify it.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { numberColumn } from "./columns.ts";
 * numberColumn(aq.table({ x: [1, null, 3] }), "x"); // Float64Array [1, NaN, 3]
 * ```
 */
export function numberColumn(table: Table, name: string): Float64Array {
  const all = storageNumbers(requireColumn(table, name));
  const idx = rowIndex(table);
  if (!idx) return all;
  const out = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = all[idx[i]];
  return out;
}

/**
 * 1 where the string column equals `value`, else 0, in table row order.
 * Arrow utf8 columns are compared byte-wise without decoding strings; masks
 * of Arrow and run-length columns are cached, so the result may be shared:
 * do not modify it.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { equalsMask } from "./columns.ts";
 * equalsMask(aq.table({ o: ["ready", "timeout"] }), "o", "ready"); // [1, 0]
 * ```
 */
export function equalsMask(
  table: Table,
  name: string,
  value: string,
): Uint8Array {
  const col = requireColumn(table, name);
  const out = storageMask(col, value);
  const idx = rowIndex(table);
  if (!idx) return out;
  const sel = new Uint8Array(idx.length);
  for (let i = 0; i < idx.length; i++) sel[i] = out[idx[i]];
  return sel;
}

/** Byte-wise equality of one utf8 batch's strings with `bytes`; sets out[base + i]; returns base + length. */
function utf8Equals(
  off: Int32Array,
  vals: Uint8Array,
  length: number,
  bytes: Uint8Array,
  out: Uint8Array,
  base: number,
): number {
  const m = bytes.length;
  const b0 = bytes[0];
  for (let i = 0; i < length; i++) {
    const s = off[i];
    if (off[i + 1] - s !== m || (m > 0 && vals[s] !== b0)) continue;
    let k = 1;
    while (k < m && vals[s + k] === bytes[k]) k++;
    if (k >= m) out[base + i] = 1;
  }
  return base + length;
}

/** Masks of immutable (Arrow and run-length) columns, by column and value. */
const maskCache = new WeakMap<object, Map<string, Uint8Array>>();

/** `equalsMask` over all rows in storage order (cached for immutable columns; do not modify). */
function storageMask(col: ColumnLike, value: string): Uint8Array {
  const cacheable = isArrowColumn(col) || col instanceof RunLengthColumn;
  const cached = cacheable ? maskCache.get(col)?.get(value) : undefined;
  if (cached) return cached;
  const out = new Uint8Array(col.length);
  const bytes = new TextEncoder().encode(value);
  if (isArrowColumn(col) && col.type.typeId === Type.Utf8) {
    let base = 0;
    for (const b of col.data as unknown as BatchLike[]) {
      base = utf8Equals(
        b.offsets as Int32Array,
        b.values as Uint8Array,
        b.length,
        bytes,
        out,
        base,
      );
      if (b.nullCount > 0 && b.validity && b.validity.length) {
        const v = b.validity;
        const start = base - b.length;
        for (let i = 0; i < b.length; i++) {
          if ((v[i >> 3] & (1 << (i & 7))) === 0) out[start + i] = 0;
        }
      }
    }
  } else if (col instanceof RunLengthColumn) {
    let start = 0;
    for (let r = 0; r < col.values.length; r++) {
      if (col.values[r] === value) out.fill(1, start, col.ends[r]);
      start = col.ends[r];
    }
  } else {
    for (let i = 0; i < col.length; i++) out[i] = col.at(i) === value ? 1 : 0;
  }
  if (cacheable) {
    const m = maskCache.get(col) ?? new Map<string, Uint8Array>();
    m.set(value, out);
    maskCache.set(col, m);
  }
  return out;
}

/** Result of {@link factorize}. */
export interface Factors {
  /** Code of each row (table row order), 0..keys.length-1. */
  codes: Int32Array;
  /** Distinct values in order of first appearance. */
  keys: unknown[];
}

/**
 * Distinct values of a column and each row's code, in order of first
 * appearance (null is a value like any other). Fast for run-length columns
 * and for long stretches of equal values.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { factorize } from "./columns.ts";
 * factorize(aq.table({ k: ["b", "a", "b"] }), "k"); // codes [0, 1, 0], keys ["b", "a"]
 * ```
 */
export function factorize(table: Table, name: string): Factors {
  const col = requireColumn(table, name);
  const idx = rowIndex(table);
  const n = idx ? idx.length : col.length;
  const codes = new Int32Array(n);
  const keys: unknown[] = [];
  const seen = new Map<unknown, number>();
  const code = (x: unknown): number => {
    let c = seen.get(x);
    if (c === undefined) {
      c = keys.length;
      keys.push(x);
      seen.set(x, c);
    }
    return c;
  };
  if (!idx && col instanceof RunLengthColumn) {
    let start = 0;
    for (let r = 0; r < col.values.length; r++) {
      codes.fill(code(col.values[r]), start, col.ends[r]);
      start = col.ends[r];
    }
    return { codes, keys };
  }
  let prev: unknown = Symbol("none");
  let prevCode = -1;
  for (let i = 0; i < n; i++) {
    const x = col.at(idx ? idx[i] : i);
    if (x !== prev) {
      prev = x;
      prevCode = code(x);
    }
    codes[i] = prevCode;
  }
  return { codes, keys };
}

/**
 * Stack tables with the same columns (the first table's names; a column a
 * later table lacks is filled with null). Arrow-backed columns of the same
 * type are joined without copying (their record batches are chained);
 * run-length columns stay run-length; anything else becomes an array.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { concatTables } from "./columns.ts";
 * concatTables([aq.table({ x: [1] }), aq.table({ x: [2, 3] })]).numRows(); // 3
 * ```
 */
export function concatTables(tables: readonly Table[]): Table {
  if (tables.length === 0) return aq.table({});
  if (tables.length === 1) return tables[0];
  const plain = tables.map((t) =>
    t.isFiltered() || t.isOrdered() ? t.reify() : t
  );
  const names = plain[0].columnNames();
  const total = plain.reduce((s, t) => s + t.numRows(), 0);
  const data: Record<string, ColumnLike> = {};
  for (const name of names) {
    const cols = plain.map((t) => t.column(name) as ColumnLike | undefined);
    if (cols.every(isArrowColumn) && cols.every((c) => sameType(c, cols[0]!))) {
      const batches = cols.flatMap((c) => [...(c as Column<unknown>).data]);
      data[name] = new Column(batches, (cols[0] as Column<unknown>).type);
    } else if (cols.every((c) => c instanceof RunLengthColumn)) {
      const values: unknown[] = [];
      const ends: number[] = [];
      let base = 0;
      for (const c of cols as RunLengthColumn<unknown>[]) {
        for (let r = 0; r < c.values.length; r++) {
          values.push(c.values[r]);
          ends.push(base + c.ends[r]);
        }
        base += c.length;
      }
      data[name] = new RunLengthColumn(values, ends);
    } else {
      const arr = new Array<unknown>(total);
      let row = 0;
      plain.forEach((t, k) => {
        const c = cols[k];
        const n = t.numRows();
        for (let i = 0; i < n; i++) arr[row++] = c ? c.at(i) : null;
      });
      data[name] = arr;
    }
  }
  return aq.table(data, names);
}

/**
 * A getter for a column's value at the n-th row of the table as read
 * (filter and ordering applied); null for a negative row or a missing column.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { rowGetter } from "./columns.ts";
 * rowGetter(aq.table({ x: [5, 6] }), "x")(1); // 6
 * ```
 */
export function rowGetter(
  table: Table,
  name: string,
): (row: number) => unknown {
  const col = table.column(name) as ColumnLike | undefined;
  if (!col) return () => null;
  const idx = rowIndex(table);
  return (row) => (row < 0 ? null : col.at(idx ? idx[row] : row) ?? null);
}

/**
 * Like {@link factorize}, but a missing column gives one group whose key is
 * null (a table of one run without a `run_id` column).
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { groupKeys } from "./columns.ts";
 * groupKeys(aq.table({ x: [1, 2] }), "run_id").keys; // [null]
 * ```
 */
export function groupKeys(table: Table, name: string): Factors {
  if (table.columnNames().includes(name)) return factorize(table, name);
  return { codes: new Int32Array(table.numRows()), keys: [null] };
}
