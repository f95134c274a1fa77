/**
 * Comparison of two runs or images: the difference of median boot times and
 * a seeded permutation-test p-value.
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import { equalsMask, numberColumn, rowGetter, type Table } from "./columns.ts";
import { orNull } from "./grouped.ts";
import { median } from "./quantile.ts";
import { type PermutationOptions, permutationTest } from "./stats.ts";

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
 * compareMedians(runA.instances, runB.instances, { seed: 1 }).print();
 * ```
 */
export function compareMedians(
  a: Table,
  b: Table,
  options: CompareOptions = {},
): Table {
  const { value = "boot_ms" } = options;
  const pick = (t: Table) => {
    const v = numberColumn(t, value);
    const ready = equalsMask(t, "outcome", "ready");
    const out: number[] = [];
    for (let i = 0; i < v.length; i++) {
      if (ready[i] && v[i] === v[i]) out.push(v[i]);
    }
    return out;
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
