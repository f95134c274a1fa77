/**
 * Comparison of two runs or images: the difference of median boot times and
 * a seeded permutation-test p-value (the ready values picked with an arquero
 * `filter`; medians from simple-statistics through quantile.ts).
 *
 * @module
 */

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
