/**
 * Comparison of two runs or images: the difference of median boot times and
 * a seeded permutation-test p-value (the ready values picked with an arquero
 * `filter`; medians from simple-statistics through quantile.ts).
 *
 * @module
 */

import { equalsMask, numberColumn } from "./columns.ts";
import "@uwdata/flechette";
import * as aq from "arquero";
import { rowGetter, type Table } from "./columns.ts";
import { orNull } from "./grouped.ts";
import { median } from "./quantile.ts";
import { type PermutationOptions, permutationTest } from "./stats.ts";
import { requireColumns } from "./verbs.ts";

const op = aq.op;

/** Options of {@link compareMedians}. */
export interface CompareOptions extends PermutationOptions {
  /** Column compared (default `boot_ms`). */
  value?: string;
  /** Labels of the two sides (default: each table's first `image`, else "a"/"b"). */
  labels?: [string, string];
}

/**
 * Compare the ready rows of two tables (two runs, two images): one row with
 * `a`, `b` (labels), `n_a`, `n_b`, `median_a`, `median_b`, `diff_ms`
 * (median_b − median_a), `ratio` (median_b / median_a), `p_value` (two-sided
 * permutation test of the difference of medians, see permutationTest) and
 * `permutations`.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { compareMedians } from "./compare.ts";
 * const run = (image: string, boot: number[]) =>
 *   aq.table({ image: boot.map(() => image), outcome: boot.map(() => "ready"), boot_ms: boot });
 * const r = compareMedians(run("a", [100, 101, 99]), run("b", [150, 149, 151]), { seed: 1 });
 * console.log(r.get("diff_ms"), r.get("ratio")); // 50 1.5
 * ```
 */
export function compareMedians(
  a: Table,
  b: Table,
  options: CompareOptions = {},
): Table {
  const { value = "boot_ms" } = options;
  const pick = (t: Table): number[] => {
    requireColumns(t, [value, "outcome"]);
    const ready = t.params({ v: value }).filter((
      d: Record<string, unknown>,
      $: Record<string, string>,
    ) => d.outcome === "ready" && d[$.v] !== null && !op.is_nan(d[$.v]));
    return Array.from(ready.array(value) as ArrayLike<number>);
  };
  const va = pick(a);
  const vb = pick(b);
  const label = (t: Table, d: string) => String(rowGetter(t, "image")(0) ?? d);
  const [la, lb] = options.labels ?? [label(a, "a"), label(b, "b")];
  const ma = median(va);
  const mb = median(vb);
  const test = va.length && vb.length ? permutationTest(va, vb, options) : null;
  return aq.from([{
    a: la,
    b: lb,
    n_a: va.length,
    n_b: vb.length,
    median_a: orNull(ma),
    median_b: orNull(mb),
    diff_ms: orNull(mb - ma),
    ratio: orNull(mb / ma),
    p_value: test ? test.p : null,
    permutations: test ? test.permutations : 0,
  }]);
}

/** Options of {@link abCompare}. */
export interface AbOptions extends PermutationOptions {
  /** Column compared (default `boot_ms`). */
  value?: string;
  /** p-value below which the difference is significant (default 0.01, as Firecracker's tools/ab_test.py). */
  significance?: number;
  /** Smallest |difference| that counts, as a fraction of A's median (default 0.2, as Firecracker's). */
  relativeStrength?: number;
}

/** The A/B verdict of {@link abCompare}. */
export interface AbResult {
  /** The column compared (e.g. `boot_ms`). */
  value: string;
  /** Values in A. */
  n_a: number;
  /** Values in B. */
  n_b: number;
  /** Median of A. */
  median_a: number | null;
  /** Median of B. */
  median_b: number | null;
  /** median_b − median_a. */
  diff: number | null;
  /** diff / median_a. */
  relative_diff: number | null;
  /** Two-sided permutation p-value of the difference of medians. */
  p_value: number | null;
  /** Random permutations drawn. */
  permutations: number;
  /** Seed of the permutations (mulberry32). */
  seed: number;
  /** The p-value threshold used. */
  significance: number;
  /** The smallest relative difference that counts. */
  relative_strength: number;
  /** p < significance and |diff| > relative_strength × |median_a|. */
  exceeds_noise: boolean;
  /** One line saying why. */
  verdict: string;
}

/**
 * An A/B comparison of two sets of instances as Firecracker's A/B tool
 * (tools/ab_test.py) reports it: the difference of the statistic (here the
 * median of the ready instances' `value`, B − A), a two-sided permutation
 * p-value (seeded, see permutationTest), and whether the difference exceeds
 * the noise: p < `significance` *and* |difference| > `relativeStrength` ×
 * |median(A)| (Firecracker compares means with 9999 resamples, p < 0.01 and
 * 20 %). Throws when a side has no ready instance with a value.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * const t = (xs: number[]) => aq.table({ outcome: xs.map(() => "ready"), boot_ms: xs });
 * const r = abCompare(t([10, 11, 12, 10, 11, 12]), t([20, 21, 22, 20, 21, 22]));
 * r.exceeds_noise; // true
 * ```
 */
export function abCompare(
  a: Table,
  b: Table,
  options: AbOptions = {},
): AbResult {
  const {
    value = "boot_ms",
    significance = 0.01,
    relativeStrength = 0.2,
    permutations = 9999,
    seed = 1,
  } = options;
  const pick = (t: Table, side: string) => {
    const have = t.columnNames().includes(value);
    if (!have) {
      throw new Error(
        `Cannot compare: ${side} has no column "${value}"; use --value with an instance column such as boot_ms or first_output_boot_ms`,
      );
    }
    const v = numberColumn(t, value);
    const ready = equalsMask(t, "outcome", "ready");
    const out: number[] = [];
    for (let i = 0; i < v.length; i++) {
      if (ready[i] && v[i] === v[i]) out.push(v[i]);
    }
    if (out.length === 0) {
      throw new Error(
        `Cannot compare: ${side} has no ready instance with a "${value}" value (check its outcomes with deno task analyze)`,
      );
    }
    return out;
  };
  const va = pick(a, "A");
  const vb = pick(b, "B");
  const ma = median(va);
  const mb = median(vb);
  const test = permutationTest(va, vb, { permutations, seed });
  const diff = mb - ma;
  const rel = ma !== 0 ? diff / ma : null;
  const big = Math.abs(diff) > relativeStrength * Math.abs(ma);
  const sig = test.p < significance;
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const verdict = sig && big
    ? `exceeds the noise: p ${
      test.p.toPrecision(2)
    } < ${significance} and |Δ| ${rel === null ? "" : pct(Math.abs(rel))} > ${
      pct(relativeStrength)
    } of A's median`
    : !sig
    ? `within the noise: p ${test.p.toPrecision(2)} ≥ ${significance}`
    : `within the noise: significant (p ${test.p.toPrecision(2)}) but |Δ| ${
      rel === null ? "" : pct(Math.abs(rel))
    } ≤ ${pct(relativeStrength)} of A's median`;
  return {
    value,
    n_a: va.length,
    n_b: vb.length,
    median_a: orNull(ma),
    median_b: orNull(mb),
    diff: orNull(diff),
    relative_diff: rel === null ? null : orNull(rel),
    p_value: test.p,
    permutations: test.permutations,
    seed,
    significance,
    relative_strength: relativeStrength,
    exceeds_noise: sig && big,
    verdict,
  };
}
