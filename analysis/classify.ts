/**
 * Classification of a run as `baseline` (minkernel-like), `libos` or `linux`
 * by its boot-time and memory features, against a small labelled reference
 * set (data/reference/), with a refusal (`unknown`) when the run is far from
 * everything known.
 *
 * Method: each feature (see runFeatures) is divided by its scale
 * (DEFAULT_SCALES); the distance between two runs is the root mean square of
 * the scaled differences over the features both have (RMS, so runs with
 * fewer features, such as the paper's points, stay comparable); a reference
 * point sharing fewer than `minShared` (default 2) features with the run is
 * ignored (one feature alone, e.g. memory, does not separate the classes;
 * this leaves out the paper's memory-only Rumprun and Alpine points). A class's
 * distance is that of its nearest reference point; probabilities are a
 * Gaussian kernel of width `bandwidth` (default 0.5) on those distances,
 * normalised over the classes present; the class is the nearest one unless
 * that distance exceeds `unknownDistance` (default 1.5), then `unknown`.
 *
 * @module
 */

import "@uwdata/flechette";
import * as aq from "arquero";
import { join } from "node:path";
import {
  type Baseline,
  CLASSES,
  DEFAULT_SCALES,
  type FeatureName,
  type FeatureOptions,
  FEATURES,
  type FeatureVector,
  hostKey,
  measureBaseline,
  pickBaselineRuns,
  runFeatures,
  type RunLike,
  type SystemClass,
} from "./features.ts";
import { DatasetError, imageName } from "./load.ts";

/** One labelled point of the reference set. */
export interface ReferencePoint {
  /** Run id, or `paper:<guest>`. */
  id: string;
  /** System name (profile name). */
  image: string;
  class: SystemClass;
  /** Measured by this toolkit, or taken from the paper's figures. */
  source: "measured" | "paper";
  /** Host the run was measured on (null for the paper). */
  host_key: string | null;
  /** N of the run. */
  count_n: number | null;
  /** Launch pattern kind. */
  pattern: string | null;
  features: FeatureVector;
}

/** The reference set as stored in data/reference/reference.json. */
export interface Reference {
  version: 1;
  /** When it was built (ISO), or null. */
  built_at: string | null;
  /** One minkernel baseline per host (and accelerator) the points were measured on. */
  baselines: Baseline[];
  /** Feature scales used for distances. */
  scales: Record<FeatureName, number>;
  points: ReferencePoint[];
  /** How it was built, caveats. */
  notes: string[];
}

/** Options of {@link buildReference}. */
export interface BuildOptions extends FeatureOptions {
  /** Text of the paper's results CSV (shared/paper/paper-results.csv); its rows become extra points. */
  paper?: string | null;
  /** Timestamp to record (default: none, for reproducible output). */
  builtAt?: string | null;
}

function emptyFeatures(): FeatureVector {
  return Object.fromEntries(FEATURES.map((f) => [f, null])) as FeatureVector;
}

/**
 * Reference points from the paper's figures (paper-results.csv): per guest,
 * `log_boot_ratio` = ln(geometric mean of its boot-time range / minkernel's)
 * when the paper gives a range, and `log_mem_ratio` = ln(peak system memory /
 * minkernel's) in the 256 × 5 ms runs. Approximations: the paper's times are
 * under KVM at up to 256 concurrent instances, not at low concurrency, and
 * its peak includes the host's own memory (so the ratio is understated).
 * Guests with fewer than two figures (Rumprun and Alpine Linux have no boot
 * time in the paper's text) are left out: one feature cannot place them.
 *
 * @example
 * ```ts
 * paperPoints(await Deno.readTextFile("../shared/paper/paper-results.csv"));
 * ```
 */
export function paperPoints(csv: string): ReferencePoint[] {
  const rows = aq.fromCSV(csv).objects() as Record<string, unknown>[];
  const num = (
    v: unknown,
  ) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const boot = (r: Record<string, unknown>) => {
    const lo = num(r.boot_time_s_low);
    const hi = num(r.boot_time_s_high);
    return lo && hi ? Math.sqrt(lo * hi) : null;
  };
  const base = rows.find((r) => r.class === "baseline");
  if (!base) {
    throw new Error(
      'Cannot use the paper\'s results: no row of class "baseline" (minkernel). Check shared/paper/paper-results.csv.',
    );
  }
  const baseBoot = boot(base);
  const baseMem = num(base.peak_system_memory_mb);
  return rows.filter((r) => CLASSES.includes(r.class as SystemClass)).map(
    (r) => {
      const f = emptyFeatures();
      const b = boot(r);
      const m = num(r.peak_system_memory_mb);
      if (b && baseBoot) f.log_boot_ratio = Math.log(b / baseBoot);
      if (m && baseMem) f.log_mem_ratio = Math.log(m / baseMem);
      return {
        id: `paper:${r.guest}`,
        image: String(r.guest),
        class: r.class as SystemClass,
        source: "paper" as const,
        host_key: null,
        count_n: num(r.instances),
        pattern: "interval",
        features: f,
      };
    },
  ).filter((p) => FEATURES.filter((f) => p.features[f] !== null).length >= 2);
}

/**
 * Build the reference set from labelled runs (run.json `profile.class` is
 * `baseline`, `libos` or `linux`; unlabelled runs are skipped): a baseline
 * per host from its `baseline` runs (those of the "minkernel" profile when
 * there are several baseline profiles, see pickBaselineRuns), then each run's features relative to
 * its own host's baseline. Runs on a host without a baseline run are
 * skipped with a note. Adds the paper's points when `paper` is given.
 *
 * @example
 * ```ts
 * const set = await loadSweep("data/sweeps/reference");
 * const ref = buildReference(set.runs, { paper: await Deno.readTextFile(paperCsv) });
 * ```
 */
export function buildReference(
  runs: readonly RunLike[],
  options: BuildOptions = {},
): Reference {
  const notes: string[] = [];
  const labelled = runs.filter((r) =>
    CLASSES.includes(r.record.profile?.class as SystemClass)
  );
  const skipped = runs.length - labelled.length;
  if (skipped) {
    notes.push(`${skipped} run(s) without a class label were skipped`);
  }
  const hosts = new Map<string, RunLike[]>();
  for (const r of labelled) {
    const k = hostKey(r.record);
    hosts.set(k, [...(hosts.get(k) ?? []), r]);
  }
  const baselines: Baseline[] = [];
  const points: ReferencePoint[] = [];
  for (const [key, group] of hosts) {
    const base = group.some((r) => r.record.profile?.class === "baseline")
      ? pickBaselineRuns(group)
      : [];
    if (!base.length) {
      notes.push(
        `host ${key}: no baseline (minkernel) run, its ${group.length} run(s) were skipped`,
      );
      continue;
    }
    const baseline = measureBaseline(base, options);
    baselines.push(baseline);
    for (const r of group) {
      points.push({
        id: r.record.run_id,
        image: imageName(r.record),
        class: r.record.profile!.class as SystemClass,
        source: "measured",
        host_key: key,
        count_n: r.record.count,
        pattern: r.record.pattern?.kind ?? null,
        features: runFeatures(r, baseline, options),
      });
    }
  }
  if (options.paper) {
    points.push(...paperPoints(options.paper));
    notes.push(
      "paper points: boot ratio from the geometric mean of the paper's boot-time range (KVM, 256 instances every 5 ms), memory ratio from peak system memory (host memory included)",
    );
  }
  return {
    version: 1,
    built_at: options.builtAt ?? null,
    baselines,
    scales: { ...DEFAULT_SCALES },
    points,
    notes,
  };
}

/** Result of {@link featureDistance}. */
export interface Distance {
  /** RMS of the scaled differences over shared features (Infinity when none). */
  distance: number;
  /** Number of features both vectors have. */
  shared: number;
}

/**
 * Distance between two feature vectors: the root mean square of
 * (a − b) / scale over the features both have.
 *
 * @example
 * ```ts
 * featureDistance(a.features, b.features, DEFAULT_SCALES).distance;
 * ```
 */
export function featureDistance(
  a: FeatureVector,
  b: FeatureVector,
  scales: Readonly<Record<FeatureName, number>> = DEFAULT_SCALES,
): Distance {
  let sum = 0;
  let shared = 0;
  for (const f of FEATURES) {
    const x = a[f];
    const y = b[f];
    if (x === null || y === null) continue;
    const d = (x - y) / scales[f];
    sum += d * d;
    shared++;
  }
  return { distance: shared ? Math.sqrt(sum / shared) : Infinity, shared };
}

/** A known system near the classified run. */
export interface Neighbour {
  /** System (image) name. */
  image: string;
  class: SystemClass;
  source: "measured" | "paper";
  /** Reference point (run id) nearest among that system's points. */
  id: string;
  distance: number;
  /** Features compared. */
  shared: number;
}

/** Options of {@link classifyFeatures} and {@link classify}. */
export interface ClassifyOptions extends FeatureOptions {
  /** Nearest-class distance beyond which the answer is `unknown` (default 1.5 scaled units). */
  unknownDistance?: number;
  /** Width of the Gaussian kernel turning distances into probabilities (default 0.5). */
  bandwidth?: number;
  /** How many nearest systems to report (default 5). */
  nearest?: number;
  /** Fewest shared features for a reference point to count (default 2). */
  minShared?: number;
}

/** The verdict on one feature vector. */
export interface Verdict {
  class: SystemClass | "unknown";
  /** Probability per class (0 for classes absent from the reference). */
  probabilities: Record<SystemClass, number>;
  /** Nearest known systems (one entry per image), nearest first. */
  nearest: Neighbour[];
  /** Distance to the nearest reference point (Infinity when none shares a feature). */
  distance: number;
}

/**
 * Classify a feature vector against reference points (see the module doc
 * for the method).
 *
 * @example
 * ```ts
 * classifyFeatures(features, reference.points, reference.scales).class;
 * ```
 */
export function classifyFeatures(
  features: FeatureVector,
  points: readonly ReferencePoint[],
  scales: Readonly<Record<FeatureName, number>> = DEFAULT_SCALES,
  options: ClassifyOptions = {},
): Verdict {
  const { unknownDistance = 1.5, bandwidth = 0.5, nearest = 5, minShared = 2 } =
    options;
  const byClass = new Map<SystemClass, number>();
  const byImage = new Map<string, Neighbour>();
  for (const p of points) {
    const { distance, shared } = featureDistance(features, p.features, scales);
    if (!Number.isFinite(distance) || shared < minShared) continue;
    if (distance < (byClass.get(p.class) ?? Infinity)) {
      byClass.set(p.class, distance);
    }
    const key = `${p.image}|${p.class}`;
    if (distance < (byImage.get(key)?.distance ?? Infinity)) {
      byImage.set(key, {
        image: p.image,
        class: p.class,
        source: p.source,
        id: p.id,
        distance,
        shared,
      });
    }
  }
  const probabilities = Object.fromEntries(
    CLASSES.map((c) => [c, 0]),
  ) as Record<SystemClass, number>;
  let best: SystemClass | null = null;
  let bestD = Infinity;
  for (const [c, d] of byClass) {
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best !== null) {
    // subtract the smallest distance before exponentiating (no underflow)
    let total = 0;
    for (const [c, d] of byClass) {
      probabilities[c] = Math.exp(
        -(d * d - bestD * bestD) / (2 * bandwidth * bandwidth),
      );
      total += probabilities[c];
    }
    for (const c of CLASSES) probabilities[c] /= total;
  }
  return {
    class: best === null || bestD > unknownDistance ? "unknown" : best,
    probabilities,
    nearest: [...byImage.values()].sort((a, b) => a.distance - b.distance)
      .slice(0, nearest),
    distance: bestD,
  };
}

/** Result of {@link looAccuracy}. */
export interface LooResult {
  /** Fraction of points whose class is recovered from the others (unknown counts as wrong); null below 2 points. */
  accuracy: number | null;
  /**
   * The same, leaving out every point of the same system (image) at once —
   * the honest figure for a system the reference has never seen — over the
   * points whose class has at least two systems (a class with one system,
   * like the minkernel baseline, cannot be recovered without it); null when
   * no class has two systems.
   */
  systemAccuracy: number | null;
  /** Points evaluated. */
  n: number;
  /** Prediction per point. */
  predictions: {
    id: string;
    image: string;
    class: SystemClass;
    predicted: SystemClass | "unknown";
    predictedBySystem: SystemClass | "unknown";
  }[];
}

/**
 * Leave-one-out accuracy of the reference set: each point is classified
 * against all the others (and, for `systemAccuracy`, against the points of
 * other systems only).
 *
 * @example
 * ```ts
 * looAccuracy(reference).accuracy; // e.g. 0.92
 * ```
 */
export function looAccuracy(
  reference: Reference,
  options: ClassifyOptions = {},
): LooResult {
  const pts = reference.points;
  if (pts.length < 2) {
    return {
      accuracy: null,
      systemAccuracy: null,
      n: pts.length,
      predictions: [],
    };
  }
  const predictions = pts.map((p, i) => ({
    id: p.id,
    image: p.image,
    class: p.class,
    predicted: classifyFeatures(
      p.features,
      pts.filter((_, j) => j !== i),
      reference.scales,
      options,
    ).class,
    predictedBySystem: classifyFeatures(
      p.features,
      pts.filter((q) => q.image !== p.image),
      reference.scales,
      options,
    ).class,
  }));
  const systems = new Map<SystemClass, Set<string>>();
  for (const p of pts) {
    systems.set(p.class, (systems.get(p.class) ?? new Set()).add(p.image));
  }
  const multi = predictions.filter((p) => systems.get(p.class)!.size >= 2);
  const acc = (ps: typeof predictions, k: "predicted" | "predictedBySystem") =>
    ps.length ? ps.filter((p) => p[k] === p.class).length / ps.length : null;
  return {
    accuracy: acc(predictions, "predicted"),
    systemAccuracy: acc(multi, "predictedBySystem"),
    n: pts.length,
    predictions,
  };
}

/** Full result of {@link classify}. */
export interface Classification extends Verdict {
  run_id: string;
  image: string;
  /** The class run.json claims (profile.class), for comparison; null when unlabelled. */
  label: SystemClass | null;
  /** Leave-one-out accuracy of the reference set. */
  looAccuracy: number | null;
  /** Leave-one-system-out accuracy of the reference set. */
  looSystemAccuracy: number | null;
  features: FeatureVector;
  /** The baseline the features are relative to, and whether its host matches the run's. */
  baseline: Baseline & { same_host: boolean };
  unknownDistance: number;
  warnings: string[];
}

/** Options of {@link classify}. */
export interface ClassifyRunOptions extends ClassifyOptions {
  /** Baseline measured on the run's host (default: the reference's baseline for that host). */
  baseline?: Baseline;
}

/**
 * Classify one run against a reference set: compute its features relative
 * to the baseline of its host (`options.baseline`, else the reference's
 * baseline with the same host key, else — with a warning — the only
 * baseline the reference has), then see {@link classifyFeatures}. Throws
 * when there is no baseline to use.
 *
 * @example
 * ```ts
 * const ref = await loadReference("data/reference");
 * const verdict = classify(await loadRun(dir), ref);
 * verdict.class; // "libos"
 * ```
 */
export function classify(
  run: RunLike,
  reference: Reference,
  options: ClassifyRunOptions = {},
): Classification {
  const warnings: string[] = [];
  const key = hostKey(run.record);
  let baseline = options.baseline ??
    reference.baselines.find((b) => b.host_key === key);
  if (!baseline && reference.baselines.length >= 1) {
    baseline = reference.baselines[0];
  }
  if (!baseline) {
    throw new Error(
      `Cannot classify "${run.record.run_id}": the reference has no minkernel baseline and none was given. ` +
        "Measure minkernel on this host and pass it (--baseline <run dir>), or rebuild the reference with deno task classify --build-reference <sweep dirs>.",
    );
  }
  const sameHost = baseline.host_key === key;
  if (!sameHost) {
    warnings.push(
      `the baseline was measured on "${baseline.host_key}", this run on "${key}": times are not comparable across hosts/accelerators; pass --baseline <minkernel run on this host>`,
    );
  }
  const features = runFeatures(run, baseline, options);
  if (features.log_boot_ratio === null) {
    warnings.push("no instance of this run booted: nothing to classify");
  }
  const measured = reference.points.filter((p) => p.source === "measured");
  const ns = new Set(measured.map((p) => p.count_n));
  if (measured.length && !ns.has(run.record.count)) {
    warnings.push(
      `no reference run has N = ${run.record.count} (reference N: ${
        [...ns].join(", ")
      }); spread and slope features depend on N`,
    );
  }
  const verdict = classifyFeatures(
    features,
    reference.points,
    reference.scales,
    options,
  );
  const loo = looAccuracy(reference, options);
  const label = run.record.profile?.class ?? null;
  return {
    run_id: run.record.run_id,
    image: imageName(run.record),
    label: CLASSES.includes(label as SystemClass) ? label as SystemClass : null,
    ...verdict,
    looAccuracy: loo.accuracy,
    looSystemAccuracy: loo.systemAccuracy,
    features,
    baseline: { ...baseline, same_host: sameHost },
    unknownDistance: options.unknownDistance ?? 1.5,
    warnings,
  };
}

/**
 * Serialise a reference set as JSON (stable key order, 2-space indent).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("reference.json", toReferenceJson(ref));
 * ```
 */
export function toReferenceJson(reference: Reference): string {
  return JSON.stringify(reference, null, 2) + "\n";
}

/**
 * Parse and check reference.json. Throws {@link DatasetError} naming the
 * file when it is not a version-1 reference set.
 *
 * @example
 * ```ts
 * const ref = fromReferenceJson(text, { file: "data/reference/reference.json" });
 * ```
 */
export function fromReferenceJson(
  text: string,
  options: { file?: string } = {},
): Reference {
  const file = options.file ?? "reference.json";
  const fix =
    "Rebuild it with deno task classify --build-reference <sweep dirs>.";
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DatasetError(
      file,
      `it is not valid JSON (${(e as Error).message})`,
      fix,
    );
  }
  if (v?.version !== 1) {
    throw new DatasetError(
      file,
      `"version" is ${JSON.stringify(v?.version)}, expected 1`,
      fix,
    );
  }
  if (!Array.isArray(v.points) || !Array.isArray(v.baselines)) {
    throw new DatasetError(
      file,
      `"points" and "baselines" must be arrays`,
      fix,
    );
  }
  const points = (v.points as ReferencePoint[]).map((p) => ({
    ...p,
    features: { ...emptyFeatures(), ...p.features },
  }));
  return {
    version: 1,
    built_at: (v.built_at as string) ?? null,
    baselines: v.baselines as Baseline[],
    scales: { ...DEFAULT_SCALES, ...(v.scales as Record<FeatureName, number>) },
    points,
    notes: (v.notes as string[]) ?? [],
  };
}

/**
 * The reference points as CSV (one row per point: id, image, class, source,
 * host_key, count_n, pattern, then every feature; empty = null).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("points.csv", referenceCsv(ref));
 * ```
 */
export function referenceCsv(reference: Reference): string {
  const rows = reference.points.map((p) => ({
    id: p.id,
    image: p.image,
    class: p.class,
    source: p.source,
    host_key: p.host_key,
    count_n: p.count_n,
    pattern: p.pattern,
    ...p.features,
  }));
  return aq.from(rows, [
    "id",
    "image",
    "class",
    "source",
    "host_key",
    "count_n",
    "pattern",
    ...FEATURES,
  ]).toCSV() + "\n";
}

/**
 * Read a reference folder (its reference.json).
 *
 * @example
 * ```ts
 * const ref = await loadReference("data/reference");
 * ```
 */
export async function loadReference(dir: string): Promise<Reference> {
  const file = join(dir, "reference.json");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DatasetError(
        file,
        "no reference set there",
        "Build one with deno task classify --build-reference <sweep dirs> (--out DIR), or point --reference to a folder with reference.json.",
      );
    }
    throw e;
  }
  return fromReferenceJson(text, { file });
}

/**
 * Write a reference folder: reference.json (read back by loadReference) and
 * points.csv (the same points, for notebooks and spreadsheets).
 *
 * @example
 * ```ts
 * await saveReference("data/reference", buildReference(set.runs));
 * ```
 */
export async function saveReference(
  dir: string,
  reference: Reference,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "reference.json"),
    toReferenceJson(reference),
  );
  await Deno.writeTextFile(join(dir, "points.csv"), referenceCsv(reference));
}
