import "@uwdata/flechette";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BaselineError,
  bootMemoryCorrelation,
  buildReference,
  classify,
  ClassifyError,
  DEFAULT_SCALES,
  featureDistance,
  loadReference,
  loadRun,
  loadSweep,
  paperPoints,
  type Run,
  saveReference,
  summarize,
  verdictText,
  WORK_FEATURES,
} from "../analysis/mod.ts";
import {
  simulateStorm,
  type StormParams,
  writeRunFolder,
} from "../dataset/synthetic_run.ts";

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
  | "image"
  | "cls"
  | "baseMs"
  | "perConcurrentMs"
  | "rssKib"
  | "gapFraction"
  | "cpuMs"
  | "work"
>;

const MINKERNEL: Kind = {
  image: "minkernel",
  cls: "baseline",
  baseMs: 150,
  perConcurrentMs: 40,
  rssKib: 40000,
  gapFraction: 0,
  cpuMs: 40,
  work: { code: 6, guest: 9, cr3: 0, syscalls: 0 },
};
const LINUX: Kind = {
  image: "linux",
  cls: "linux",
  baseMs: 3400,
  perConcurrentMs: 900,
  rssKib: 130000,
  gapFraction: 0.3,
  cpuMs: 5000,
  work: { code: 361000, guest: 1.7e9, cr3: 18000, syscalls: 2200 },
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

/** Systems of the fixture reference: two per class, boot work as measured here. */
const SYSTEMS: Kind[] = [
  MINKERNEL,
  {
    image: "synthetic",
    cls: "baseline",
    baseMs: 160,
    perConcurrentMs: 42,
    rssKib: 42000,
    gapFraction: 0,
    cpuMs: 45,
    work: { code: 190, guest: 10400, cr3: 0, syscalls: 0 },
  },
  {
    image: "solo5",
    cls: "libos",
    baseMs: 230,
    perConcurrentMs: 60,
    rssKib: 46000,
    gapFraction: 0.05,
    cpuMs: 150,
    work: { code: 1773, guest: 2e6, cr3: 1, syscalls: 0 },
  },
  {
    image: "unikraft",
    cls: "libos",
    baseMs: 240,
    perConcurrentMs: 62,
    rssKib: 46500,
    gapFraction: 0.05,
    cpuMs: 160,
    work: { code: 7471, guest: 3e6, cr3: 1, syscalls: 0 },
  },
  {
    image: "osv",
    cls: "libos",
    baseMs: 700,
    perConcurrentMs: 200,
    rssKib: 70000,
    gapFraction: 0.1,
    cpuMs: 400,
    work: { code: 84000, guest: 1e7, cr3: 7, syscalls: 0 },
  },
  LINUX,
  {
    image: "linux-generic",
    cls: "linux",
    baseMs: 6800,
    perConcurrentMs: 1500,
    rssKib: 200000,
    gapFraction: 0.3,
    cpuMs: 7000,
    work: { code: 372000, guest: 6e9, cr3: 18000, syscalls: 2231 },
  },
];

/** Reference runs: each system at N = 4 and 8, with boot work (--insns) and without (timing). */
async function referenceRuns(root: string): Promise<Run[]> {
  for (const kind of SYSTEMS) {
    for (const n of [4, 8]) {
      await write(root, kind, n);
      await write(root, { ...kind, work: undefined }, n);
    }
  }
  return (await loadSweep(root)).runs;
}

Deno.test("paperPoints() turns the paper's figures into ratios to minkernel, marked as the paper's", () => {
  const pts = paperPoints(PAPER);
  assert.deepEqual(pts.map((p) => p.id), [
    "paper:minkernel",
    "paper:osv",
    "paper:includeos",
    "paper:rumprun",
    "paper:alpine-linux",
  ]);
  assert.ok(pts.every((p) => p.source === "paper"));
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

Deno.test("featureDistance() is the RMS of scaled differences over the set's shared features", () => {
  const a = {
    log_code_insns: 2,
    log_guest_insns: 4,
    log_cr3_writes: null,
    log_syscalls: 0,
  };
  const b = {
    log_code_insns: 4,
    log_guest_insns: 2,
    log_cr3_writes: 1,
    log_syscalls: 0,
  };
  // shared: code (2/1 = 2), guest (2/2 = 1), syscalls 0 → √((4 + 1 + 0)/3)
  const d = featureDistance(
    a as never,
    b as never,
    WORK_FEATURES,
    DEFAULT_SCALES,
  );
  assert.equal(d.shared, 3);
  assert.ok(Math.abs(d.distance - Math.sqrt(5 / 3)) < 1e-12);
  assert.deepEqual(d.terms, {
    log_code_insns: 4,
    log_guest_insns: 1,
    log_syscalls: 0,
  });
});

Deno.test("buildReference() calibrates both feature sets leave-one-system-out; boot work gets every system right", async () => {
  await withTemp(async (root) => {
    const ref = buildReference(await referenceRuns(root), { paper: PAPER });
    const work = ref.evaluation.work!;
    assert.deepEqual(work.systems.sort(), SYSTEMS.map((k) => k.image).sort());
    assert.deepEqual(
      work.systemsRight.sort(),
      work.systems,
      JSON.stringify(work.predictions.map((p) => [p.system, p.predicted])),
    );
    assert.equal(work.accuracy, 1);
    for (const c of ["baseline", "libos", "linux"] as const) {
      assert.equal(
        work.confusion[c][c],
        work.predictions.filter((p) => p.class === c).length,
      );
    }
    assert.ok(work.brier < 0.2, `Brier ${work.brier}`);
    assert.ok(work.ece >= 0 && work.ece < 0.3, `ECE ${work.ece}`);
    assert.equal(work.reliability.reduce((s, r) => s + r.n, 0), work.n);
    assert.ok(ref.calibration.work!.temperature > 0);
    assert.ok(ref.calibration.timing, "timing calibrated too");
    assert.ok(ref.evaluation.timing!.n > 0);
    assert.equal(ref.baselines.length, 1);
    assert.ok(ref.points.some((p) => p.source === "paper"));
  });
});

Deno.test("classify() gives the same class against any valid baseline, and refuses one that is not minkernel-like", async () => {
  await withTemp(async (root) => {
    const ref = buildReference(await referenceRuns(join(root, "ref")));
    const target = await loadRun(
      await write(join(root, "new"), {
        ...SYSTEMS[4],
        image: "new-libos",
        cls: null,
        work: { code: 30000, guest: 5e6, cr3: 3, syscalls: 0 },
      }, 8),
    );
    const classes = new Set<string>();
    for (const n of [1, 2, 4, 8, 16]) {
      const base = await loadRun(await write(join(root, "base"), MINKERNEL, n));
      classes.add(classify(target, ref, { baselineRuns: [base] }).class);
    }
    assert.deepEqual([...classes], ["libos"]);
    const libos = await loadRun(await write(join(root, "bad"), SYSTEMS[2], 4));
    assert.throws(
      () => classify(target, ref, { baselineRuns: [libos] }),
      (e: Error) =>
        e instanceof BaselineError &&
        /not a minkernel-like baseline.*solo5.*libos/.test(e.message),
    );
    const other = await loadRun(
      await write(join(root, "host"), MINKERNEL, 4, {
        host: { hostname: "elsewhere", cpu_model: "Intel" },
      }),
    );
    assert.throws(
      () => classify(target, ref, { baselineRuns: [other] }),
      (e: Error) =>
        e instanceof BaselineError &&
        /measured on "elsewhere\|Intel/.test(e.message),
    );
    const lookalike = await loadRun(
      await write(join(root, "look"), {
        ...MINKERNEL,
        work: { code: 84000, guest: 1e7, cr3: 7, syscalls: 0 },
      }, 4),
    );
    assert.throws(
      () => classify(target, ref, { baselineRuns: [lookalike] }),
      (e: Error) =>
        e instanceof BaselineError &&
        /84000 distinct instructions/.test(e.message),
    );
  });
});

Deno.test("classify() refuses a run with no ready instance", async () => {
  await withTemp(async (root) => {
    const ref = buildReference(await referenceRuns(join(root, "ref")));
    const dead = await loadRun(await write(join(root, "dead"), SYSTEMS[2], 4));
    // every instance timed out
    const empty = {
      ...dead,
      instances: dead.instances.derive({ outcome: () => "timeout" }),
    };
    assert.throws(
      () => classify(empty, ref),
      (e: Error) =>
        e instanceof ClassifyError &&
        /none of its 4 instances became ready/.test(e.message),
    );
  });
});

Deno.test("classify() answers unknown far from every class and says which features made it far", async () => {
  await withTemp(async (root) => {
    const ref = buildReference(await referenceRuns(join(root, "ref")));
    const alien = await loadRun(
      await write(join(root, "alien"), {
        ...LINUX,
        image: "alien",
        cls: null,
        work: { code: 3e8, guest: 1e12, cr3: 5e7, syscalls: 9e7 },
      }, 4),
    );
    const v = classify(alien, ref);
    assert.equal(v.class, "unknown");
    assert.ok(v.distance > v.unknownDistance);
    assert.ok(
      ["log_code_insns", "log_cr3_writes", "log_syscalls", "log_guest_insns"]
        .includes(v.reasons[0].feature),
    );
    const text = verdictText(v);
    assert.match(text, /unknown: far from every known system/);
    assert.match(text, /What makes it far:/);
  });
});

Deno.test("verdictText() says the class, how sure, the nearest systems, what decided it and what was compared", async () => {
  await withTemp(async (root) => {
    const ref = buildReference(await referenceRuns(join(root, "ref")));
    const run = await loadRun(
      await write(join(root, "x"), {
        ...SYSTEMS[4],
        image: "mystery",
        cls: null,
      }, 8),
    );
    const v = classify(run, ref);
    assert.equal(v.class, "libos");
    assert.equal(v.set, "work");
    assert.equal(v.nearest[0].system, "osv");
    const text = verdictText(v);
    for (
      const re of [
        /mystery .* is a library OS \(unikernel\): probability [01]\.\d\d/,
        /Nearest known systems: osv \(libos/,
        /most like osv/,
        /What decided it:/,
        /Compared: boot-work features .* reference runs of 7 systems; run measured on fixture\|fixture CPU\|tcg/,
        /held-out systems were right 7\/7/,
      ]
    ) assert.match(text, re);
  });
});

Deno.test("saveReference() and loadReference() round-trip; a broken file is named", async () => {
  await withTemp(async (root) => {
    const ref = buildReference(await referenceRuns(join(root, "ref")), {
      paper: PAPER,
    });
    await saveReference(join(root, "out"), ref);
    assert.deepEqual(
      await loadReference(join(root, "out")),
      JSON.parse(JSON.stringify(ref)),
    );
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

Deno.test("deno task classify --build-reference, then --json and the text verdict; bad input exits 2", async () => {
  await withTemp(async (root) => {
    await referenceRuns(join(root, "ref"));
    const built = await run([
      "cli/classify.ts",
      "--build-reference",
      join(root, "ref"),
      "--out",
      join(root, "set"),
      "--no-paper",
    ]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout, /28 points, 1 baseline/);
    assert.match(
      built.stdout,
      /work features, leave-one-system-out: systems right 7\/7/,
    );
    const target = await write(join(root, "new"), {
      ...SYSTEMS[3],
      image: "new",
      cls: null,
    }, 8);
    const res = await run([
      "cli/classify.ts",
      target,
      "--reference",
      join(root, "set"),
      "--json",
    ]);
    assert.equal(res.code, 0, res.stderr);
    const obj = JSON.parse(res.stdout);
    for (
      const k of [
        "class",
        "probabilities",
        "nearest",
        "reasons",
        "evaluation",
        "set",
      ]
    ) {
      assert.ok(k in obj, k);
    }
    assert.equal(obj.class, "libos");
    const text = await run([
      "cli/classify.ts",
      target,
      "--reference",
      join(root, "set"),
    ]);
    assert.match(text.stdout, /Nearest known systems/);
    const base = await write(join(root, "b"), SYSTEMS[2], 4);
    const refused = await run([
      "cli/classify.ts",
      target,
      "--reference",
      join(root, "set"),
      "--baseline",
      base,
    ]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /holds no run of class baseline/);
    const bad = await run([
      "cli/classify.ts",
      join(root, "missing"),
      "--reference",
      join(root, "set"),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Cannot load .*missing.*no such folder/);
  });
});

Deno.test("deno task analyze prints bins and summary tables", async () => {
  await withTemp(async (root) => {
    await write(root, MINKERNEL, 8);
    await write(root, synth(64), 8);
    await write(root, LINUX, 8);
    const res = await run(["cli/analyze.ts", root, "--width", "4"]);
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
