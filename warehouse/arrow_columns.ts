/**
 * Pure helpers that map Arrow columns (as flechette decodes them) to DuckDB
 * column types: what kind of values a field holds (`fieldKind`), one DuckDB
 * type for a column seen with different Arrow types in different runs
 * (`unifyKinds`), and the byte layouts DuckDB's vectors expect (validity
 * bits, inlined `string_t`).
 *
 * @module
 */

import { Type } from "@uwdata/flechette";
import type { ColumnType } from "../dataset/schema.ts";

/** DuckDB column types the warehouse produces. */
export type DuckType =
  | "TINYINT"
  | "SMALLINT"
  | "INTEGER"
  | "BIGINT"
  | "UTINYINT"
  | "USMALLINT"
  | "UINTEGER"
  | "UBIGINT"
  | "FLOAT"
  | "DOUBLE"
  | "BOOLEAN"
  | "VARCHAR";

/** What an Arrow field holds, as far as the copy into DuckDB cares. */
export type FieldKind =
  | { kind: "int"; bits: 8 | 16 | 32 | 64; signed: boolean }
  | { kind: "float"; bits: 16 | 32 | 64 }
  | { kind: "utf8" }
  | { kind: "bool" }
  | { kind: "null" }
  /** Anything else (dictionary, timestamp, list…): converted value by value. */
  | { kind: "other"; typeId: number };

/** An Arrow type as flechette describes it. */
export interface ArrowType {
  /** flechette's `Type` id (`Type.Int`, `Type.Float`, `Type.Utf8`…). */
  typeId: number;
  /** Integers: bits per value (8, 16, 32, 64; default 32). */
  bitWidth?: number;
  /** Integers: signed or not (default signed). */
  signed?: boolean;
  /** Floats: 0 half, 1 single, 2 double precision (default 2). */
  precision?: number;
}

/**
 * The kind of an Arrow field type.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Type } from "@uwdata/flechette";
 * import { fieldKind } from "./arrow_columns.ts";
 * assert.deepEqual(fieldKind({ typeId: Type.Float, precision: 2 }), { kind: "float", bits: 64 });
 * assert.deepEqual(fieldKind({ typeId: Type.Int, bitWidth: 32, signed: true }), { kind: "int", bits: 32, signed: true });
 * ```
 */
export function fieldKind(t: ArrowType): FieldKind {
  switch (t.typeId) {
    case Type.Int:
      return {
        kind: "int",
        bits: (t.bitWidth ?? 32) as 8 | 16 | 32 | 64,
        signed: t.signed ?? true,
      };
    case Type.Float:
      return { kind: "float", bits: ([16, 32, 64] as const)[t.precision ?? 2] };
    case Type.Utf8:
    case Type.LargeUtf8:
      return { kind: "utf8" };
    case Type.Bool:
      return { kind: "bool" };
    case Type.Null:
      return { kind: "null" };
    default:
      return { kind: "other", typeId: t.typeId };
  }
}

const INT_TYPES: Record<string, DuckType> = {
  "8s": "TINYINT",
  "16s": "SMALLINT",
  "32s": "INTEGER",
  "64s": "BIGINT",
  "8u": "UTINYINT",
  "16u": "USMALLINT",
  "32u": "UINTEGER",
  "64u": "UBIGINT",
};

/**
 * The DuckDB type for one field kind (null: `fallback`).
 *
 * @example
 * ```ts
 * import { duckTypeOf } from "./arrow_columns.ts";
 * console.log(duckTypeOf({ kind: "int", bits: 64, signed: true }, "VARCHAR")); // "BIGINT"
 * console.log(duckTypeOf({ kind: "null" }, "VARCHAR")); // "VARCHAR"
 * ```
 */
export function duckTypeOf(k: FieldKind, fallback: DuckType): DuckType {
  switch (k.kind) {
    case "int":
      return INT_TYPES[`${k.bits}${k.signed ? "s" : "u"}`];
    case "float":
      return k.bits === 64 ? "DOUBLE" : "FLOAT";
    case "utf8":
      return "VARCHAR";
    case "bool":
      return "BOOLEAN";
    case "null":
      return fallback;
    case "other":
      return "VARCHAR";
  }
}

/**
 * The DuckDB type of a dataset schema column type (dataset/schema.ts).
 *
 * @example
 * ```ts
 * import { duckTypeOfSpec } from "./arrow_columns.ts";
 * console.log(duckTypeOfSpec("int32")); // "INTEGER"
 * ```
 */
export function duckTypeOfSpec(t: ColumnType): DuckType {
  return t === "int32" ? "INTEGER" : t === "float64" ? "DOUBLE" : "VARCHAR";
}

/**
 * One DuckDB type for a column that different runs store with different
 * Arrow types: the same type when they agree (all-null files ignored),
 * the widest integer for integers, DOUBLE when integers meet floats,
 * VARCHAR otherwise. `fallback` when every file holds only nulls.
 *
 * @example
 * ```ts
 * import { unifyKinds } from "./arrow_columns.ts";
 * console.log(unifyKinds([{ kind: "int", bits: 32, signed: true }, { kind: "float", bits: 64 }], "VARCHAR")); // "DOUBLE"
 * console.log(unifyKinds([{ kind: "null" }], "INTEGER")); // "INTEGER"
 * ```
 */
export function unifyKinds(
  kinds: readonly FieldKind[],
  fallback: DuckType,
): DuckType {
  const real = kinds.filter((k) => k.kind !== "null");
  if (!real.length) return fallback;
  const types = new Set(real.map((k) => duckTypeOf(k, fallback)));
  if (types.size === 1) return [...types][0];
  if (real.every((k) => k.kind === "int" || k.kind === "float")) {
    if (real.some((k) => k.kind === "float")) {
      return real.every((k) => k.kind === "float" && k.bits <= 32)
        ? "FLOAT"
        : "DOUBLE";
    }
    const ints = real as { kind: "int"; bits: number; signed: boolean }[];
    if (ints.every((k) => !k.signed)) {
      return INT_TYPES[`${Math.max(...ints.map((k) => k.bits))}u`];
    }
    return "BIGINT";
  }
  return "VARCHAR";
}

/**
 * Bytes per value of a fixed-width DuckDB type (VARCHAR: one 16-byte string_t).
 *
 * @example
 * ```ts
 * import { byteWidth } from "./arrow_columns.ts";
 * console.log(byteWidth("DOUBLE"), byteWidth("VARCHAR")); // 8 16
 * ```
 */
export function byteWidth(t: DuckType): number {
  switch (t) {
    case "TINYINT":
    case "UTINYINT":
    case "BOOLEAN":
      return 1;
    case "SMALLINT":
    case "USMALLINT":
      return 2;
    case "INTEGER":
    case "UINTEGER":
    case "FLOAT":
      return 4;
    case "BIGINT":
    case "UBIGINT":
    case "DOUBLE":
      return 8;
    case "VARCHAR":
      return 16;
  }
}

/**
 * Whether Arrow values of kind `k` have exactly the bytes DuckDB type `t`
 * stores (copy as is).
 *
 * @example
 * ```ts
 * import { sameLayout } from "./arrow_columns.ts";
 * console.log(sameLayout({ kind: "float", bits: 64 }, "DOUBLE")); // true
 * console.log(sameLayout({ kind: "int", bits: 32, signed: true }, "BIGINT")); // false
 * ```
 */
export function sameLayout(k: FieldKind, t: DuckType): boolean {
  if (k.kind === "int") {
    return INT_TYPES[`${k.bits}${k.signed ? "s" : "u"}`] === t;
  }
  if (k.kind === "float") {
    return (k.bits === 64 && t === "DOUBLE") ||
      (k.bits === 32 && t === "FLOAT");
  }
  return false;
}

/**
 * Set bits `[start, start + n)` of an LSB-first bitmap (Arrow and DuckDB
 * validity use the same bit order).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setBits } from "./arrow_columns.ts";
 * const bits = new Uint8Array(2);
 * setBits(bits, 3, 7); // bits 3..9
 * assert.deepEqual([...bits], [0xf8, 0x03]);
 * ```
 */
export function setBits(bits: Uint8Array, start: number, n: number): void {
  let i = start;
  const end = start + n;
  while (i < end && (i & 7)) bits[i >> 3] |= 1 << (i++ & 7);
  if (end - i >= 8) {
    bits.fill(0xff, i >> 3, end >> 3);
    i = end & ~7;
  }
  while (i < end) bits[i >> 3] |= 1 << (i++ & 7);
}

/**
 * Copy `n` bits from `src` at bit `from` to `dst` at bit `to` (LSB-first),
 * whole bytes at a time when both are byte-aligned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { copyBits } from "./arrow_columns.ts";
 * const dst = new Uint8Array(1);
 * copyBits(new Uint8Array([0b1010]), 1, dst, 0, 3); // source bits 1..3 to bits 0..2
 * assert.equal(dst[0], 0b101);
 * ```
 */
export function copyBits(
  src: Uint8Array,
  from: number,
  dst: Uint8Array,
  to: number,
  n: number,
): void {
  let i = 0;
  if (((from | to) & 7) === 0) {
    const bytes = n >> 3;
    dst.set(src.subarray(from >> 3, (from >> 3) + bytes), to >> 3);
    i = bytes << 3;
  }
  for (; i < n; i++) {
    const s = from + i, d = to + i;
    if ((src[s >> 3] >> (s & 7)) & 1) dst[d >> 3] |= 1 << (d & 7);
    else dst[d >> 3] &= ~(1 << (d & 7));
  }
}

/** Longest string DuckDB stores inline in its 16-byte `string_t`. */
export const INLINE_MAX = 12;

/**
 * Write DuckDB `string_t` structs for rows whose UTF-8 bytes fit inline
 * (≤ 12 bytes: uint32 length, then the bytes, zero padded) into `out` at
 * row `at` onwards; return the rows (relative to `at`) that are longer and
 * must be assigned through the C API. Null rows (per `valid`) stay zero.
 * `offsets` are Arrow value offsets into `data`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inlineStrings } from "./arrow_columns.ts";
 * const data = new TextEncoder().encode("readya string longer than 12");
 * const offsets = new Int32Array([0, 5, data.length]);
 * const out = new Uint8Array(2 * 16);
 * const long = inlineStrings(data, offsets, 0, 2, out, 0, () => true);
 * assert.deepEqual(long, [1]); // row 1 goes through the C API
 * assert.equal(new DataView(out.buffer).getUint32(0, true), 5); // row 0: length, then "ready"
 * assert.equal(new TextDecoder().decode(out.subarray(4, 9)), "ready");
 * ```
 */
export function inlineStrings(
  data: Uint8Array,
  offsets: ArrayLike<number | bigint>,
  from: number,
  to: number,
  out: Uint8Array,
  at: number,
  valid: (row: number) => boolean,
): number[] {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const long: number[] = [];
  for (let r = from; r < to; r++) {
    if (!valid(r)) continue;
    const s = Number(offsets[r]), e = Number(offsets[r + 1]);
    const len = e - s;
    const o = (at + r - from) * 16;
    if (len <= INLINE_MAX) {
      view.setUint32(o, len, true);
      for (let j = 0; j < len; j++) out[o + 4 + j] = data[s + j];
    } else long.push(r);
  }
  return long;
}
