/**
 * Run records (run.json) as table rows: nested objects flattened to
 * columns joined by `_` (`host.cpu_model` → `host_cpu_model`,
 * `qemu.version` → `qemu_version`), arrays and empty objects kept as JSON
 * text, plus `host` (the host name), `image` (profile name) and `run_dir`,
 * so that `runs` joins `instances` and `memory` on `run_id` or `host`.
 *
 * @module
 */

import {
  imageName,
  type ReadRunRecord as RunRecord,
} from "../analysis/load.ts";

/** A flattened run record: column → scalar. */
export type FlatRecord = Record<string, string | number | boolean | null>;

/** DuckDB types of flattened run columns. */
export type RunColumnType = "BOOLEAN" | "BIGINT" | "DOUBLE" | "VARCHAR";

/**
 * Flatten a run record to one level.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flattenRecord } from "./run_columns.ts";
 * const flat = flattenRecord({ schema_version: 2, run_id: "r", count: 4, host: { hostname: "h", cores: 2 }, argv: ["qemu"] }, "data/runs/r");
 * assert.deepEqual(flat, {
 *   schema_version: 2, run_id: "r", count: 4, host_hostname: "h", host_cores: 2, argv: '["qemu"]',
 *   host: "h", image: "unknown", run_dir: "data/runs/r",
 * });
 * ```
 */
export function flattenRecord(record: RunRecord, dir: string): FlatRecord {
  const out: FlatRecord = {};
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? `${prefix}_${k}` : k;
      if (
        v !== null && typeof v === "object" && !Array.isArray(v) &&
        Object.keys(v).length > 0
      ) {
        walk(v as Record<string, unknown>, key);
      } else if (v !== null && typeof v === "object") {
        out[key] = JSON.stringify(v);
      } else if (v === undefined) {
        continue;
      } else {
        out[key] = v as string | number | boolean | null;
      }
    }
  };
  walk(record as Record<string, unknown>, "");
  out.host = record.host?.hostname ?? null;
  out.image = imageName(record);
  out.run_dir = dir;
  return out;
}

/**
 * The columns of many flattened records, in first-seen order, each with
 * one type: BOOLEAN, BIGINT (all integers), DOUBLE (numbers), else VARCHAR.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runColumns } from "./run_columns.ts";
 * assert.deepEqual(runColumns([{ a: 1, b: "x", d: 3 }, { a: 2.5, c: true, d: null }]), [
 *   { name: "a", type: "DOUBLE" },
 *   { name: "b", type: "VARCHAR" },
 *   { name: "d", type: "BIGINT" },
 *   { name: "c", type: "BOOLEAN" },
 * ]);
 * ```
 */
export function runColumns(
  records: readonly FlatRecord[],
): { name: string; type: RunColumnType }[] {
  const seen = new Map<string, Set<string>>();
  for (const r of records) {
    for (const [k, v] of Object.entries(r)) {
      const kinds = seen.get(k) ?? new Set<string>();
      if (v !== null) {
        kinds.add(
          typeof v === "number"
            ? (Number.isSafeInteger(v) ? "int" : "float")
            : typeof v,
        );
      }
      seen.set(k, kinds);
    }
  }
  return [...seen].map(([name, kinds]) => {
    let type: RunColumnType = "VARCHAR";
    if (kinds.size === 1 && kinds.has("boolean")) type = "BOOLEAN";
    else if (kinds.size === 1 && kinds.has("int")) type = "BIGINT";
    else if (
      kinds.size && [...kinds].every((k) => k === "int" || k === "float")
    ) type = "DOUBLE";
    return { name, type };
  });
}

/**
 * A SQL identifier, quoted.
 *
 * @example
 * ```ts
 * import { ident } from "./run_columns.ts";
 * console.log(ident('a"b')); // "a""b"
 * ```
 */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A SQL string literal.
 *
 * @example
 * ```ts
 * import { literal } from "./run_columns.ts";
 * console.log(literal("it's")); // 'it''s'
 * ```
 */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * A SQL list of string literals.
 *
 * @example
 * ```ts
 * import { literalList } from "./run_columns.ts";
 * console.log(literalList(["a", "b"])); // ['a', 'b']
 * ```
 */
export function literalList(texts: readonly string[]): string {
  return `[${texts.map(literal).join(", ")}]`;
}
