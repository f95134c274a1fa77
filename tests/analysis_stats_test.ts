/**
 * Statistics against reference values computed with numpy 2.4 / scipy 1.17.
 * The Python used is quoted next to each expected value; the bootstrap and
 * permutation references replay mulberry32 in Python:
 *
 * ```python
 * def m32(seed):
 *     a = [seed & 0xffffffff]
 *     def imul(x, y): return (x * y) & 0xffffffff
 *     def r():
 *         a[0] = (a[0] + 0x6d2b79f5) & 0xffffffff
 *         x = a[0]
 *         t = imul(x ^ (x >> 15), 1 | x)
 *         t = ((t + imul(t ^ (t >> 7), 61 | t)) & 0xffffffff) ^ t
 *         return ((t ^ (t >> 14)) & 0xffffffff) / 4294967296
 *     return r
 * ```
 */

import assert from "node:assert/strict";
import {
  bootstrapCi,
  bootstrapRatioCi,
  linearFit,
  median,
  modifiedZ,
  pearson,
  permutationTest,
  quantileSorted,
  spearman,
} from "../analysis/mod.ts";
import { mulberry32 } from "../dataset/prng.ts";
import { quantilesInPlace, quantilesOfSlice } from "../analysis/quantile.ts";
import { ranks } from "../analysis/stats.ts";

const close = (a: number, b: number, tol = 1e-9, what = "") =>
  assert.ok(
    Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)),
    `${what}: ${a} ≠ ${b}`,
  );

Deno.test("mulberry32() matches its Python replay", () => {
  // r = m32(42); [r(), r(), r()]
  const r = mulberry32(42);
  assert.deepEqual([r(), r(), r()], [
    0.6011037519201636,
    0.44829055899754167,
    0.8524657934904099,
  ]);
});

const X = [12.5, 3.1, 7.7, 7.7, 100.2, 55.0, 0.4, 18.9, 23.3, 9.6, 41.0];
const PS = [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1];
// np.quantile(X, [0, .25, .5, .75, .9, .99, 1])  (method="linear", R type 7)
const X_Q = [0.4, 7.7, 12.5, 32.15, 55.0, 95.68000000000002, 100.2];

Deno.test("quantilesInPlace() equals numpy's linear quantiles", () => {
  const q = quantilesInPlace(Float64Array.from(X), PS);
  q.forEach((v, i) => close(v, X_Q[i], 1e-12, `p=${PS[i]}`));
});

Deno.test("quantileSorted() equals numpy's linear quantiles", () => {
  const s = [...X].sort((a, b) => a - b);
  PS.forEach((p, i) => close(quantileSorted(s, p), X_Q[i], 1e-12, `p=${p}`));
  // np.quantile([1, 2, 3, 4], .25) = 1.75
  assert.equal(quantileSorted([1, 2, 3, 4], 0.25), 1.75);
  assert.ok(Number.isNaN(quantileSorted([], 0.5)));
});

Deno.test("quantilesInPlace() agrees with a full sort on random data with ties", () => {
  const rand = mulberry32(7);
  for (let t = 0; t < 500; t++) {
    const n = 1 + Math.floor(rand() * 400);
    const ties = rand() < 0.3;
    const a = Float64Array.from(
      { length: n },
      () => ties ? Math.floor(rand() * 4) : rand() * 100,
    );
    const sorted = a.slice().sort();
    const q = quantilesInPlace(a.slice(), PS);
    PS.forEach((p, i) => assert.equal(q[i], quantileSorted(sorted, p)));
  }
});

Deno.test("quantilesInPlace() and quantilesOfSlice() agree with a full sort on large skewed inputs", () => {
  const rand = mulberry32(11);
  const shapes: Record<string, () => number> = {
    uniform: () => rand() * 1000,
    ties: () => Math.floor(rand() * 3),
    outlier: () => (rand() < 0.001 ? 1e12 : rand()),
    exponential: () => -Math.log(1 - rand()) * 100,
    constant: () => 42,
  };
  for (const [shape, draw] of Object.entries(shapes)) {
    for (const n of [4097, 30000, 70000]) {
      const a = Float64Array.from({ length: n }, draw);
      const keep = Uint8Array.from({ length: n }, () => (rand() < 0.9 ? 1 : 0));
      a[7] = NaN;
      const kept = a.filter((x, i) => keep[i] && x === x);
      const sorted = kept.slice().sort();
      const expected = PS.map((p) => quantileSorted(sorted, p));
      assert.deepEqual(
        quantilesInPlace(kept.slice(), PS),
        expected,
        `${shape} ${n} in place`,
      );
      const s = quantilesOfSlice(a, PS, { keep });
      assert.deepEqual(s.q, expected, `${shape} ${n} slice`);
      assert.equal(s.n, kept.length);
      assert.equal(s.min, sorted[0]);
      assert.equal(s.max, sorted[sorted.length - 1]);
    }
  }
});

Deno.test("median() ignores null and NaN", () => {
  assert.equal(median([3, 1, null, 2, 10, NaN]), 2.5);
  assert.ok(Number.isNaN(median([null])));
});

const CX = [1.2, 2.4, 3.1, 4.8, 5.0, 6.7, 7.1, 8.9];
const CY = [2.0, 2.9, 3.9, 4.1, 6.2, 5.9, 8.1, 8.0];

Deno.test("pearson() and spearman() equal scipy.stats", () => {
  // scipy.stats.pearsonr(CX, CY).statistic
  close(pearson(CX, CY), 0.9430105196512677, 1e-12, "pearson");
  // scipy.stats.spearmanr(CX, CY).statistic
  close(spearman(CX, CY), 0.9523809523809524, 1e-12, "spearman");
  // scipy.stats.spearmanr([1,2,2,3,4,5], [3,1,4,4,5,9]).statistic
  close(
    spearman([1, 2, 2, 3, 4, 5], [3, 1, 4, 4, 5, 9]),
    0.8676470588235294,
    1e-12,
    "ties",
  );
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
});

Deno.test("ranks() gives ties their average rank like scipy.stats.rankdata", () => {
  // scipy.stats.rankdata([3, 1, 4, 4, 5, 9]) = [2, 1, 3.5, 3.5, 5, 6]
  assert.deepEqual(ranks([3, 1, 4, 4, 5, 9]), [2, 1, 3.5, 3.5, 5, 6]);
});

Deno.test("linearFit() equals numpy.polyfit and linregress r²", () => {
  const fit = linearFit(CX, CY);
  // np.polyfit(CX, CY, 1) = [0.8244500846023688, 1.097694585448394]
  close(fit.slope, 0.8244500846023688, 1e-12, "slope");
  close(fit.intercept, 1.097694585448394, 1e-12, "intercept");
  // scipy.stats.linregress(CX, CY).rvalue ** 2
  close(fit.r2, 0.8892688401729537, 1e-12, "r2");
  assert.equal(fit.n, 8);
});

Deno.test("modifiedZ() equals 0.6745·(x − median)/MAD computed with numpy", () => {
  const z = [10.1, 10.4, 9.8, 10.0, 10.2, 9.9, 10.3, 25.0, 10.1, 3.0];
  // zz = np.array(z); med = np.median(zz); mad = np.median(np.abs(zz - med))
  // 0.6745 * (zz - med) / mad   (med = 10.1, mad = 0.2)
  const expected = [
    0.0,
    1.0117500000000015,
    -1.0117499999999955,
    -0.3372499999999985,
    0.3372499999999985,
    -0.674499999999997,
    0.674500000000003,
    50.25024999999996,
    0.0,
    -23.944749999999978,
  ];
  modifiedZ(z).forEach((v, i) => close(v, expected[i], 1e-9, `z[${i}]`));
});

Deno.test("modifiedZ() falls back to the mean absolute deviation when MAD is 0", () => {
  // median 5, MAD 0; MeanAD = (0+0+0+0+5)/5 = 1 → z = (x − 5)/(1.253314 · 1)
  const z = modifiedZ([5, 5, 5, 5, 10]);
  close(z[4], 5 / 1.253314, 1e-12, "fallback");
  assert.equal(z[0], 0);
  assert.deepEqual(modifiedZ([2, 2, 2]), [0, 0, 0]);
});

Deno.test("bootstrapCi() equals its Python replay (500 resamples, seed 7)", () => {
  // def pear(a, b): np.corrcoef(a, b)[0, 1] (nan when a or b is constant)
  // def spear(a, b): pear(st.rankdata(a), st.rankdata(b))
  // def boot(xs, ys, stat, B, seed):
  //     r = m32(seed); n = len(xs); res = []
  //     for _ in range(B):
  //         idx = [int(r() * n) for _ in range(n)]
  //         s = stat([xs[i] for i in idx], [ys[i] for i in idx])
  //         if s == s: res.append(s)
  //     return np.quantile(res, .025), np.quantile(res, .975), len(res)
  // boot(CX, CY, pear, 500, 7) = (0.813528497581187, 0.997013505501306, 500)
  // boot(CX, CY, spear, 500, 7) = (0.6202531645569621, 1.0, 500)
  const p = bootstrapCi(CX, CY, { stat: pearson, resamples: 500, seed: 7 });
  close(p.lo, 0.813528497581187, 1e-9, "pearson lo");
  close(p.hi, 0.997013505501306, 1e-9, "pearson hi");
  assert.equal(p.used, 500);
  const s = bootstrapCi(CX, CY, { stat: spearman, resamples: 500, seed: 7 });
  close(s.lo, 0.6202531645569621, 1e-9, "spearman lo");
  close(s.hi, 1.0, 1e-9, "spearman hi");
});

Deno.test("permutationTest() equals its Python replay (999 permutations, seed 3)", () => {
  // def perm(a, b, R, seed):
  //     r = m32(seed); pooled = list(a) + list(b); na = len(a)
  //     d = np.median(b) - np.median(a); c = 0
  //     for _ in range(R):
  //         for i in range(len(pooled) - 1, 0, -1):
  //             j = int(r() * (i + 1)); pooled[i], pooled[j] = pooled[j], pooled[i]
  //         dd = np.median(pooled[na:]) - np.median(pooled[:na])
  //         if abs(dd) >= abs(d) - 1e-9: c += 1
  //     return d, (1 + c) / (1 + R)
  // perm(PA, PB, 999, 3) = (4.3999999999999915, 0.049); perm(PA, PA, 199, 3) = (0.0, 1.0)
  const pa = [101.0, 98.5, 103.2, 99.9, 100.4, 102.8, 97.6];
  const pb = [104.1, 106.3, 99.0, 108.8, 105.5, 103.9];
  const t = permutationTest(pa, pb, { permutations: 999, seed: 3 });
  close(t.diff, 4.3999999999999915, 1e-12, "diff");
  assert.equal(t.p, 0.049);
  assert.equal(permutationTest(pa, pa, { permutations: 199, seed: 3 }).p, 1);
});

Deno.test("bootstrapRatioCi() equals its Python replay (500 resamples, seed 7)", () => {
  // def ratio(a, b, R, seed):
  //     r = m32(seed); res = []
  //     for _ in range(R):
  //         sa = np.median([a[int(r() * len(a))] for _ in a])
  //         sb = np.median([b[int(r() * len(b))] for _ in b])
  //         if sa / sb == sa / sb: res.append(sa / sb)
  //     return np.quantile(res, .025), np.quantile(res, .975), len(res)
  // ratio(PB, PA, 500, 7) = (1.0105732226735082, 1.0779474779347875, 500)
  // ratio([101, 102, 103], [100, 100, 100], 2000, 1) = (1.01, 1.03, 2000)
  const pa = [101.0, 98.5, 103.2, 99.9, 100.4, 102.8, 97.6];
  const pb = [104.1, 106.3, 99.0, 108.8, 105.5, 103.9];
  const ci = bootstrapRatioCi(pb, pa, { resamples: 500, seed: 7 });
  close(ci.lo, 1.0105732226735082, 1e-12, "lo");
  close(ci.hi, 1.0779474779347875, 1e-12, "hi");
  assert.equal(ci.used, 500);
  const d = bootstrapRatioCi([101, 102, 103], [100, 100, 100]);
  close(d.lo, 1.01, 1e-12, "default lo");
  close(d.hi, 1.03, 1e-12, "default hi");
  assert.equal(d.used, 2000);
  const none = bootstrapRatioCi([], [1]);
  assert.ok(Number.isNaN(none.lo) && Number.isNaN(none.hi) && none.used === 0);
});
