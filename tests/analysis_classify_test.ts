import "@uwdata/flechette";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  bootMemoryCorrelation,
  buildReference,
  classify,
  featureDistance,
  loadReference,
  loadRun,
  loadSweep,
  looAccuracy,
  measureBaseline,
  paperPoints,
  type Run,
  saveReference,
  summarize,
} from "../analysis/mod.ts";
import {
  simulateStorm,
  type StormParams,
  writeRunFolder,
} from "./testdata/analysis/write_run.ts";

/** A copy of shared/paper/paper-results.csv (the paper's figures). */
const PAPER =
  `guest,class,instances,interval_ms,peak_system_memory_mb,boot_time_s_low,boot_time_s_high,note
minkernel,baseline,256,5,3020,0.5,3,"all 256 booted within 3 s; fastest about 0.5 s; >=10 MB per QEMU+KVM instance"
osv,libos,256,5,5486,6,10,"wider spread, varies less with concurrency than IncludeOS"
includeos,libos,256,5,4281,6,10,""
rumprun,libos,256,5,5220,,,"boot times similar to OSv and IncludeOS; distribution shape differs"
alpine-linux,linux,256,5,15620,,,"clearly slowest; most memory; multi-user mode"
`;

type Kind = Pick<
  StormParams,
  "image" | "cls" | "baseMs" | "perConcurrentMs" | "rssKib" | "gapFraction"
>;

const MINKERNEL: Kind = {
  image: "minkernel",
  cls: "baseline",
  baseMs: 150,
  perConcurrentMs: 40,
  rssKib: 40000,
  gapFraction: 0,
};
const LINUX: Kind = {
  image: "linux",
  cls: "linux",
  baseMs: 3400,
  perConcurrentMs: 900,
  rssKib: 130000,
  gapFraction: 0.3,
};
/** Synthetic guest touching `mib` MiB at boot: boot and memory grow with its size (the ground truth). */
const synth = (mib: number): Kind => ({
  image: `synth-${mib}`,
  cls: "libos",
  baseMs: 150 + 2 * mib,
  perConcurrentMs: 40 + mib / 2,
  rssKib: 40000 + 1024 * mib,
  gapFraction: 0.02,
});

let seed = 100;
async function write(
  root: string,
  kind: Kind,
  n: number,
  extra: Partial<StormParams> = {},
): Promise<string> {
  const runId = `${kind.image}-n${n}-s${seed}`;
  return await writeRunFolder(
    join(root, runId),
    simulateStorm({
      runId,
      n,
      spawnGapMs: 30,
      seed: seed++,
      ...kind,
      ...extra,
    }),
    { batchRows: 4 },
  );
}

async function withTemp(body: (root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "analysis_classify_" });
  try {
    await body(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("boot time and memory correlate positively across synthetic guests (ρ's interval excludes 0)", async () => {
  await withTemp(async (root) => {
    for (const mib of [0, 16, 32, 64, 96, 128, 192, 256]) {
      await write(root, synth(mib), 8);
    }
    const set = await loadSweep(root);
    const corr = bootMemoryCorrelation(
      summarize(set.instances, { memory: set.memory }),
      { seed: 1 },
    )
      .objects() as Record<string, number | string>[];
    assert.deepEqual(corr.map((r) => r.x), [
      "per_booting_kib",
      "rss_median_kib",
    ]);
    for (const r of corr) {
      assert.equal(r.n, 8);
      assert.ok((r.pearson as number) > 0.9, `pearson ${r.pearson}`);
      assert.ok((r.spearman as number) > 0.9, `spearman ${r.spearman}`);
      assert.ok(
        (r.spearman_lo as number) > 0,
        `spearman interval ${r.spearman_lo}..${r.spearman_hi}`,
      );
      assert.ok(
        (r.pearson_lo as number) > 0,
        `pearson interval ${r.pearson_lo}..${r.pearson_hi}`,
      );
      assert.ok((r.slope as number) > 0);
    }
  });
});

Deno.test("paperPoints() turns the paper's figures into ratios to minkernel", () => {
  const pts = paperPoints(PAPER);
  // Rumprun and Alpine have no boot time in the paper: one feature is not enough, left out
  assert.deepEqual(pts.map((p) => p.id), [
    "paper:minkernel",
    "paper:osv",
    "paper:includeos",
  ]);
  assert.equal(pts[0].features.log_boot_ratio, 0);
  // hand: ln(√(6·10) / √(0.5·3)) = ½·ln 40 = 1.8444397270569681; ln(5486 / 3020) = 0.5969425611286332
  assert.ok(
    Math.abs(pts[1].features.log_boot_ratio! - 0.5 * Math.log(40)) < 1e-12,
  );
  assert.ok(
    Math.abs(pts[1].features.log_mem_ratio! - Math.log(5486 / 3020)) < 1e-12,
  );
  // the paper could not tell OSv from IncludeOS by boot time: same boot feature
  assert.equal(pts[1].features.log_boot_ratio, pts[2].features.log_boot_ratio);
});

Deno.test("featureDistance() is the RMS of scaled differences over shared features", () => {
  const a = {
    log_boot_ratio: 1,
    slope_ratio: null,
    iqr_ratio: 0.5,
    log_rss_ratio: null,
    gap_ratio: null,
    log_mem_ratio: 0,
  };
  const b = {
    log_boot_ratio: 0,
    slope_ratio: 3,
    iqr_ratio: 0,
    log_rss_ratio: null,
    gap_ratio: null,
    log_mem_ratio: null,
  };
  // shared: log_boot_ratio (1/0.5 = 2), iqr_ratio (0.5/0.25 = 2) → √((4 + 4)/2) = 2
  assert.deepEqual(featureDistance(a, b), { distance: 2, shared: 2 });
});

async function referenceRuns(root: string): Promise<Run[]> {
  for (const n of [8, 16]) {
    await write(root, MINKERNEL, n);
    await write(root, synth(32), n);
    await write(root, synth(128), n);
    await write(root, synth(256), n);
    await write(root, LINUX, n);
  }
  return (await loadSweep(root)).runs;
}

Deno.test("classify() puts a heavy synthetic guest apart from minkernel and recognises known kinds", async () => {
  await withTemp(async (root) => {
    const ref = buildReference(await referenceRuns(join(root, "ref")), {
      paper: PAPER,
    });
    assert.equal(ref.baselines.length, 1);
    assert.equal(ref.points.length, 13);
    const loo = looAccuracy(ref);
    assert.equal(loo.accuracy, 1, JSON.stringify(loo.predictions));

    const heavy = classify(
      await loadRun(await write(join(root, "new"), synth(512), 8)),
      ref,
    );
    assert.notEqual(heavy.class, "baseline");
    assert.ok(
      heavy.probabilities.baseline < 0.01,
      JSON.stringify(heavy.probabilities),
    );
    assert.notEqual(heavy.nearest[0].image, "minkernel");
    assert.equal(heavy.label, "libos");

    const mk = classify(
      await loadRun(await write(join(root, "new"), MINKERNEL, 16)),
      ref,
    );
    assert.equal(mk.class, "baseline");
    assert.ok(
      mk.probabilities.baseline > 0.5,
      JSON.stringify(mk.probabilities),
    );
    assert.equal(mk.nearest[0].image, "minkernel");
    assert.deepEqual(mk.warnings, []);

    const mid = classify(
      await loadRun(await write(join(root, "new"), synth(160), 16)),
      ref,
    );
    assert.equal(mid.class, "libos");

    const lx = classify(
      await loadRun(await write(join(root, "new"), LINUX, 8)),
      ref,
    );
    assert.equal(lx.class, "linux");
    assert.equal(lx.looAccuracy, 1);
  });
});

Deno.test("classify() answers unknown far from every class, and warns about another host", async () => {
  await withTemp(async (root) => {
    const ref = buildReference(await referenceRuns(join(root, "ref")));
    const odd: Kind = {
      image: "odd",
      cls: null,
      baseMs: 150 * 400,
      perConcurrentMs: 0,
      rssKib: 4000,
      gapFraction: 0.9,
    };
    const r = classify(
      await loadRun(await write(join(root, "new"), odd, 8)),
      ref,
    );
    assert.equal(r.class, "unknown");
    assert.ok(r.distance > r.unknownDistance);
    assert.equal(r.label, null);

    const host = { hostname: "elsewhere", cpu_model: "other", cores: 64 };
    const away = await loadRun(
      await write(join(root, "new"), MINKERNEL, 8, { host }),
    );
    const warned = classify(away, ref);
    assert.ok(
      warned.warnings.some((w) => w.includes("not comparable across hosts")),
    );
    assert.equal(warned.baseline.same_host, false);
    // a baseline from the same host removes the warning
    const base = measureBaseline([
      await loadRun(await write(join(root, "base"), MINKERNEL, 8, { host })),
    ]);
    assert.deepEqual(classify(away, ref, { baseline: base }).warnings, []);
  });
});

Deno.test("classify() refuses without any baseline", async () => {
  await withTemp(async (root) => {
    const ref = buildReference([], { paper: PAPER });
    const run = await loadRun(await write(root, synth(64), 8));
    assert.throws(
      () => classify(run, ref),
      /no minkernel baseline.*--baseline/,
    );
    assert.ok(
      classify(run, ref, {
        baseline: measureBaseline([
          await loadRun(await write(root, MINKERNEL, 8)),
        ]),
      }),
    );
  });
});

Deno.test("saveReference() and loadReference() round-trip; a broken file is named", async () => {
  await withTemp(async (root) => {
    const ref = buildReference(await referenceRuns(join(root, "ref")), {
      paper: PAPER,
    });
    await saveReference(join(root, "out"), ref);
    assert.deepEqual(await loadReference(join(root, "out")), ref);
    const csv = await Deno.readTextFile(join(root, "out", "points.csv"));
    assert.equal(csv.trim().split("\n").length, ref.points.length + 1);
    await Deno.writeTextFile(
      join(root, "out", "reference.json"),
      '{"version": 9}',
    );
    await assert.rejects(
      loadReference(join(root, "out")),
      /reference.json.*"version" is 9/,
    );
    await assert.rejects(
      loadReference(join(root, "none")),
      /no reference set there/,
    );
  });
});

async function run(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    cwd: join(import.meta.dirname!, ".."),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("deno task classify --build-reference then --json prints class, probabilities, nearest, looAccuracy", async () => {
  await withTemp(async (root) => {
    await referenceRuns(join(root, "ref"));
    const built = await run([
      "analysis/classify_cli.ts",
      "--build-reference",
      join(root, "ref"),
      "--out",
      join(root, "set"),
      "--no-paper",
    ]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout, /10 points, 1 baseline/);
    const target = await write(join(root, "new"), synth(512), 8);
    const res = await run([
      "analysis/classify_cli.ts",
      target,
      "--reference",
      join(root, "set"),
      "--json",
    ]);
    assert.equal(res.code, 0, res.stderr);
    const obj = JSON.parse(res.stdout);
    for (const k of ["class", "probabilities", "nearest", "looAccuracy"]) {
      assert.ok(k in obj, k);
    }
    assert.ok(["baseline", "libos", "linux", "unknown"].includes(obj.class));
    assert.notEqual(obj.class, "baseline");
    const text = await run([
      "analysis/classify_cli.ts",
      target,
      "--reference",
      join(root, "set"),
    ]);
    assert.match(text.stdout, /nearest known systems/);
    const bad = await run([
      "analysis/classify_cli.ts",
      join(root, "missing"),
      "--reference",
      join(root, "set"),
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Cannot load .*missing.*no such folder/);
  });
});

Deno.test("deno task analyze prints bins and summary tables", async () => {
  await withTemp(async (root) => {
    await write(root, MINKERNEL, 8);
    await write(root, synth(64), 8);
    await write(root, LINUX, 8);
    const res = await run(["analysis/analyze_cli.ts", root, "--width", "4"]);
    assert.equal(res.code, 0, res.stderr);
    for (
      const h of [
        "Concurrency bins",
        "Summary per run",
        "Memory peak per run",
        "Boot time (median) vs memory",
      ]
    ) {
      assert.ok(res.stdout.includes(h), h);
    }
    assert.match(
      res.stdout,
      /run_id\s+image\s+count_n\s+bin_lo\s+bin_hi\s+n\s+min_ms/,
    );
  });
});
