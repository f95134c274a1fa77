/**
 * Classification of a run as `baseline` (minkernel-like), `libos` or `linux`
 * against a labelled reference set of measured systems (data/reference/),
 * with `unknown` for a run far from every known system.
 *
 * Method, per feature set (`work`: boot work, TCG with --insns; `timing`:
 * what a KVM host gets; see features.ts): the distance between two runs is
 * the root mean square of (a − b) / scale over the set's features both have;
 * a class's distance is that of its nearest reference run; probabilities are
 * exp(−d² / 2T²) normalised over the classes, with the temperature T fitted
 * on leave-one-system-out (LOSO) predictions (every run of a system held out
 * at once, classified against the other systems); the class is the nearest
 * unless that distance exceeds the unknown threshold, also fitted on LOSO
 * (1.5 × the farthest a held-out known system was from its nearest class).
 * The evaluation (accuracy, confusion matrix, Brier score, expected
 * calibration error, reliability table) is of those LOSO predictions.
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
  FEATURE_LABELS,
  FEATURE_SETS,
  type FeatureName,
  type FeatureOptions,
  FEATURES,
  type FeatureSet,
  featureSetOf,
  type FeatureVector,
  hostKey,
  measureBaseline,
  pickBaselineRuns,
  readyCount,
  runFeatures,
  type RunLike,
  type SystemClass,
} from "./features.ts";
import { DatasetError, imageName } from "./load.ts";

/** One labelled point of the reference set: a run. */
export interface ReferencePoint {
  /** Run id, or `paper:<guest>`. */
  id: string;
  /** Profile name of the run. */
  image: string;
  /** The system it belongs to (one OS build, whichever machine or boot path; see systemOf). */
  system: string;
  /** Its class (the profile's label). */
  class: SystemClass;
  /** Measured by this toolkit, or taken from the paper's figures. */
  source: "measured" | "paper";
  /** Host the run was measured on (null for the paper). */
  host_key: string | null;
  /** N of the run. */
  count_n: number | null;
  /** Launch pattern kind. */
  pattern: string | null;
  /** Its features (null where the run cannot provide one). */
  features: FeatureVector;
}

/** A feature set's fitted constants. */
export interface Calibration {
  /** Temperature of the class probabilities (scaled units). */
  temperature: number;
  /** Nearest-class distance beyond which the answer is `unknown`. */
  unknownDistance: number;
}

/** One leave-one-system-out prediction. */
export interface LosoPrediction {
  /** The held-out reference point. */
  id: string;
  /** Its system (held out with all its runs). */
  system: string;
  /** Its true class. */
  class: SystemClass;
  /** The class the other systems gave it. */
  predicted: SystemClass | "unknown";
  /** Probability per class. */
  probabilities: Record<SystemClass, number>;
  /** Distance to the nearest point of another system. */
  distance: number;
}

/** How well a feature set does on held-out systems. */
export interface Evaluation {
  /** The feature set evaluated. */
  set: FeatureSet;
  /** Systems with runs that have this set's features. */
  systems: string[];
  /** Runs evaluated. */
  n: number;
  /** Fraction of runs right (unknown counts as wrong). */
  accuracy: number;
  /** Systems whose runs were all right. */
  systemsRight: string[];
  /** true class → predicted class → runs. */
  confusion: Record<SystemClass, Record<SystemClass | "unknown", number>>;
  /** Mean over runs of Σ_c (p_c − [c = true])². */
  brier: number;
  /** Expected calibration error of the top probability (5 bins). */
  ece: number;
  /** Reliability table: per confidence bin, runs, mean confidence, accuracy. */
  reliability: {
    bin: string;
    n: number;
    confidence: number;
    accuracy: number;
  }[];
  /** Every held-out prediction. */
  predictions: LosoPrediction[];
}

/** The reference set as stored in data/reference/reference.json. */
export interface Reference {
  /** Version of this format. */
  version: 2;
  /** When it was built (ISO), or null. */
  built_at: string | null;
  /** One minkernel baseline per host (and accelerator) the points were measured on. */
  baselines: Baseline[];
  /** Feature scales used for distances. */
  scales: Record<FeatureName, number>;
  /** Fitted per feature set (absent when the set has too few systems). */
  calibration: Partial<Record<FeatureSet, Calibration>>;
  /** LOSO evaluation per feature set. */
  evaluation: Partial<Record<FeatureSet, Evaluation>>;
  /** The labelled points: measured runs, then the paper's. */
  points: ReferencePoint[];
  /** How it was built, caveats. */
  notes: string[];
}

/**
 * The system a profile belongs to: one OS build, whatever machine type or
 * boot path it is run with (`minkernel-microvm` → `minkernel`, `osv-disk` →
 * `osv`, `alpine-linux-quiet` → `alpine-linux`).
 *
 * @example
 * ```ts
 * import { systemOf } from "./classify.ts";
 * console.log(systemOf("minkernel-microvm")); // "minkernel"
 * ```
 */
export function systemOf(image: string): string {
  return image.replace(/-(microvm|disk|direct|quiet|exit|pc)$/, "");
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
 * Reference points from the paper's figures (paper-results.csv), marked
 * `source: "paper"`: per guest `log_boot_ratio` = ln(geometric mean of its
 * boot-time range / minkernel's) and `log_mem_ratio` = ln(peak system
 * memory / minkernel's) in the 256 × 5 ms runs (KVM). Neither feature set
 * uses them (their features are the paper's two); figures show them.
 *
 * @example
 * ```ts
 * import { paperPoints } from "./classify.ts";
 * const points = paperPoints(await Deno.readTextFile("data/paper/paper-results.csv")); // run from the project root
 * const osv = points.find((p) => p.id === "paper:osv")!;
 * console.log(points.length, osv.class, Math.exp(osv.features.log_boot_ratio!).toFixed(2)); // 5 libos "6.32": 6.3× the minkernel's boot time
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
        system: `${r.guest} (paper)`,
        class: r.class as SystemClass,
        source: "paper" as const,
        host_key: null,
        count_n: num(r.instances),
        pattern: "interval",
        features: f,
      };
    },
  ).filter((p) =>
    p.features.log_boot_ratio !== null || p.features.log_mem_ratio !== null
  );
}

/** Result of {@link featureDistance}. */
export interface Distance {
  /** RMS of the scaled differences over shared features (Infinity when none). */
  distance: number;
  /** Number of features both vectors have. */
  shared: number;
  /** Scaled squared difference per shared feature. */
  terms: Partial<Record<FeatureName, number>>;
}

/**
 * Distance between two feature vectors over `features`: the root mean
 * square of (a − b) / scale over the features both have.
 *
 * @example
 * ```ts
 * import { featureDistance } from "./classify.ts";
 * import { DEFAULT_SCALES, type FeatureVector, WORK_FEATURES } from "./features.ts";
 * const a = { log_code_insns: 2, log_guest_insns: 3 } as FeatureVector; // the others missing: not shared
 * const b = { log_code_insns: 3, log_guest_insns: 3, log_syscalls: 1 } as FeatureVector;
 * const d = featureDistance(a, b, WORK_FEATURES, DEFAULT_SCALES);
 * console.log(d.distance.toFixed(3), d.shared, d.terms); // "0.707" 2 { log_code_insns: 1, log_guest_insns: 0 }
 * ```
 */
export function featureDistance(
  a: FeatureVector,
  b: FeatureVector,
  features: readonly FeatureName[],
  scales: Readonly<Record<FeatureName, number>> = DEFAULT_SCALES,
): Distance {
  let sum = 0;
  let shared = 0;
  const terms: Partial<Record<FeatureName, number>> = {};
  for (const f of features) {
    const x = a[f];
    const y = b[f];
    if (x === null || x === undefined || y === null || y === undefined) {
      continue;
    }
    const d = (x - y) / scales[f];
    terms[f] = d * d;
    sum += d * d;
    shared++;
  }
  return {
    distance: shared ? Math.sqrt(sum / shared) : Infinity,
    shared,
    terms,
  };
}

/** A known system near the classified run. */
export interface Neighbour {
  /** The known system. */
  system: string;
  /** Its class. */
  class: SystemClass;
  /** The system's reference run nearest to the classified run. */
  id: string;
  /** Distance to that run (scaled units). */
  distance: number;
}

/** The class distances of one feature vector against reference points. */
interface ClassDistances {
  byClass: Map<
    SystemClass,
    { distance: number; point: ReferencePoint; terms: Distance["terms"] }
  >;
  nearest: Neighbour[];
}

function classDistances(
  features: FeatureVector,
  points: readonly ReferencePoint[],
  set: FeatureSet,
  scales: Readonly<Record<FeatureName, number>>,
): ClassDistances {
  const fs = FEATURE_SETS[set];
  const need = set === "work" ? fs.length : 2;
  const byClass: ClassDistances["byClass"] = new Map();
  const bySystem = new Map<string, Neighbour>();
  for (const p of points) {
    const d = featureDistance(features, p.features, fs, scales);
    if (!Number.isFinite(d.distance) || d.shared < need) continue;
    if (d.distance < (byClass.get(p.class)?.distance ?? Infinity)) {
      byClass.set(p.class, { distance: d.distance, point: p, terms: d.terms });
    }
    if (d.distance < (bySystem.get(p.system)?.distance ?? Infinity)) {
      bySystem.set(p.system, {
        system: p.system,
        class: p.class,
        id: p.id,
        distance: d.distance,
      });
    }
  }
  return {
    byClass,
    nearest: [...bySystem.values()].sort((a, b) => a.distance - b.distance),
  };
}

function probabilities(
  byClass: ClassDistances["byClass"],
  temperature: number,
): {
  probabilities: Record<SystemClass, number>;
  best: SystemClass | null;
  bestD: number;
} {
  const p = Object.fromEntries(CLASSES.map((c) => [c, 0])) as Record<
    SystemClass,
    number
  >;
  let best: SystemClass | null = null;
  let bestD = Infinity;
  for (const [c, { distance }] of byClass) {
    if (distance < bestD) {
      bestD = distance;
      best = c;
    }
  }
  if (best === null) return { probabilities: p, best, bestD };
  let total = 0;
  for (const [c, { distance }] of byClass) {
    p[c] = Math.exp(
      -(distance * distance - bestD * bestD) / (2 * temperature * temperature),
    );
    total += p[c];
  }
  for (const c of CLASSES) p[c] /= total;
  return { probabilities: p, best, bestD };
}

/** What decided a verdict, feature by feature. */
export interface Reason {
  /** The feature. */
  feature: FeatureName;
  /** The run's value. */
  value: number | null;
  /** The nearest reference run of the chosen class: its value and scaled squared difference. */
  chosen: { id: string; system: string; value: number | null; term: number };
  /** The nearest reference run of the runner-up class (null when there is none). */
  other: {
    id: string;
    system: string;
    class: SystemClass;
    value: number | null;
    term: number;
  } | null;
}

/** The verdict on one feature vector. */
export interface Verdict {
  /** The nearest class, or `unknown` beyond the threshold. */
  class: SystemClass | "unknown";
  /** The feature set used. */
  set: FeatureSet;
  /** Probability per class (0 for classes absent from the reference). */
  probabilities: Record<SystemClass, number>;
  /** Nearest known systems, nearest first. */
  nearest: Neighbour[];
  /** Distance to the nearest reference run (Infinity when none shares the set's features). */
  distance: number;
  /** Threshold of `unknown` that was applied. */
  unknownDistance: number;
  /** Per feature, the run against the nearest run of the chosen and the runner-up class, most decisive first. */
  reasons: Reason[];
}

/** Options of {@link classifyFeatures}. */
export interface ClassifyOptions extends FeatureOptions {
  /** Feature set (default: work when the run has boot work, else timing). */
  set?: FeatureSet;
  /** Override the fitted temperature. */
  temperature?: number;
  /** Override the fitted unknown threshold. */
  unknownDistance?: number;
}

const DEFAULT_CALIBRATION: Calibration = {
  temperature: 0.5,
  unknownDistance: 1.5,
};

/**
 * Classify a feature vector against reference points with one feature set.
 *
 * @example
 * ```ts
 * import { classifyFeatures, loadReference } from "./classify.ts";
 * const ref = await loadReference("data/reference"); // run from the project root
 * // OSv's boot work, classified against every other system of the reference:
 * const osv = ref.points.find((p) => p.system === "osv")!;
 * const others = ref.points.filter((p) => p.system !== "osv" && p.source === "measured");
 * const v = classifyFeatures(osv.features, others, { set: "work" }, ref.calibration.work);
 * console.log(v.class, v.nearest[0].system); // libos rumprun
 * ```
 */
export function classifyFeatures(
  features: FeatureVector,
  points: readonly ReferencePoint[],
  options: ClassifyOptions & {
    scales?: Readonly<Record<FeatureName, number>>;
  } = {},
  calibration: Calibration = DEFAULT_CALIBRATION,
): Verdict {
  const set = options.set ?? featureSetOf(features) ?? "timing";
  const scales = options.scales ?? DEFAULT_SCALES;
  const temperature = options.temperature ?? calibration.temperature;
  const unknownDistance = options.unknownDistance ??
    calibration.unknownDistance;
  const cd = classDistances(features, points, set, scales);
  const { probabilities: p, best, bestD } = probabilities(
    cd.byClass,
    temperature,
  );
  const cls = best === null || bestD > unknownDistance ? "unknown" : best;
  const reasons: Reason[] = [];
  if (best !== null) {
    const chosen = cd.byClass.get(best)!;
    let runner: [SystemClass, typeof chosen] | null = null;
    for (const [c, v] of cd.byClass) {
      if (c !== best && (!runner || v.distance < runner[1].distance)) {
        runner = [c, v];
      }
    }
    for (const f of FEATURE_SETS[set]) {
      if (chosen.terms[f] === undefined) continue;
      reasons.push({
        feature: f,
        value: features[f],
        chosen: {
          id: chosen.point.id,
          system: chosen.point.system,
          value: chosen.point.features[f],
          term: chosen.terms[f]!,
        },
        other: runner
          ? {
            id: runner[1].point.id,
            system: runner[1].point.system,
            class: runner[0],
            value: runner[1].point.features[f],
            term: runner[1].terms[f] ?? 0,
          }
          : null,
      });
    }
    // Most decisive first: what separates the chosen class from the
    // runner-up; for `unknown`, what makes the run far from the nearest.
    const key = (r: Reason) =>
      cls === "unknown" ? r.chosen.term : (r.other?.term ?? 0) - r.chosen.term;
    reasons.sort((a, b) => key(b) - key(a));
  }
  return {
    class: cls,
    set,
    probabilities: p,
    nearest: cd.nearest,
    distance: bestD,
    unknownDistance,
    reasons,
  };
}

/** Points that carry a feature set (measured runs with those features). */
function pointsWith(
  points: readonly ReferencePoint[],
  set: FeatureSet,
): ReferencePoint[] {
  const fs = FEATURE_SETS[set];
  const need = set === "work" ? fs.length : 2;
  return points.filter((p) =>
    p.source === "measured" &&
    fs.filter((f) => p.features[f] !== null).length >= need
  );
}

/**
 * Leave-one-system-out class distances of every point of a set (each
 * system's runs against the other systems only).
 */
function losoDistances(
  points: readonly ReferencePoint[],
  set: FeatureSet,
  scales: Readonly<Record<FeatureName, number>>,
) {
  return points.map((p) => ({
    point: p,
    cd: classDistances(
      p.features,
      points.filter((q) => q.system !== p.system),
      set,
      scales,
    ),
  }));
}

/**
 * Fit a set's temperature (minimum LOSO log-loss over a grid) and unknown
 * threshold (1.5 × the largest LOSO nearest-class distance), then evaluate
 * the LOSO predictions. Null when fewer than two classes have two systems.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { calibrateSet, loadReference } from "./classify.ts";
 * const ref = await loadReference("data/reference"); // run from the project root
 * const { calibration, evaluation } = calibrateSet(ref.points, "work")!;
 * assert.deepEqual(calibration, ref.calibration.work); // what buildReference stored
 * console.log(`${evaluation.systemsRight.length}/${evaluation.systems.length} held-out systems right`);
 * ```
 */
export function calibrateSet(
  allPoints: readonly ReferencePoint[],
  set: FeatureSet,
  scales: Readonly<Record<FeatureName, number>> = DEFAULT_SCALES,
): { calibration: Calibration; evaluation: Evaluation } | null {
  const points = pointsWith(allPoints, set);
  const systems = [...new Set(points.map((p) => p.system))].sort();
  const classesWithTwo = CLASSES.filter((c) =>
    new Set(points.filter((p) => p.class === c).map((p) => p.system)).size >= 2
  );
  if (classesWithTwo.length < 2) return null;
  const loso = losoDistances(points, set, scales);
  let bestT = 0.5;
  let bestLoss = Infinity;
  // T below 0.1 only sharpens probabilities that are already ~1 (and a grid
  // floor is reached when every held-out system is right).
  for (let t = 0.1; t <= 5; t *= 1.1) {
    let loss = 0;
    for (const { point, cd } of loso) {
      const { probabilities: pr } = probabilities(cd.byClass, t);
      loss -= Math.log(Math.max(1e-6, pr[point.class]));
    }
    if (loss < bestLoss - 1e-12) {
      bestLoss = loss;
      bestT = t;
    }
  }
  const far = Math.max(
    0,
    ...loso.map(({ cd }) =>
      Math.min(...[...cd.byClass.values()].map((v) => v.distance))
    ).filter(Number.isFinite),
  );
  const calibration = {
    temperature: round(bestT),
    unknownDistance: round(Math.max(0.5, 1.5 * far)),
  };
  const predictions: LosoPrediction[] = loso.map(({ point, cd }) => {
    const { probabilities: pr, best, bestD } = probabilities(
      cd.byClass,
      calibration.temperature,
    );
    return {
      id: point.id,
      system: point.system,
      class: point.class,
      predicted: best === null || bestD > calibration.unknownDistance
        ? "unknown"
        : best,
      probabilities: pr,
      distance: bestD,
    };
  });
  return { calibration, evaluation: evaluate(set, systems, predictions) };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** Accuracy, confusion, Brier score, ECE and reliability of predictions. */
function evaluate(
  set: FeatureSet,
  systems: string[],
  predictions: LosoPrediction[],
): Evaluation {
  const confusion = Object.fromEntries(CLASSES.map((c) => [
    c,
    Object.fromEntries([...CLASSES, "unknown"].map((k) => [k, 0])),
  ])) as Evaluation["confusion"];
  let right = 0;
  let brier = 0;
  for (const p of predictions) {
    confusion[p.class][p.predicted]++;
    if (p.predicted === p.class) right++;
    for (const c of CLASSES) {
      brier += (p.probabilities[c] - (c === p.class ? 1 : 0)) ** 2;
    }
  }
  const n = predictions.length;
  const bins = [0.2, 0.4, 0.6, 0.8, 1.0000001];
  const reliability = bins.map((hi, i) => {
    const lo = i === 0 ? 0 : bins[i - 1];
    const inBin = predictions.filter((p) => {
      const conf = Math.max(...CLASSES.map((c) => p.probabilities[c]));
      return conf >= lo && conf < hi;
    });
    const conf = inBin.reduce(
      (s, p) => s + Math.max(...CLASSES.map((c) => p.probabilities[c])),
      0,
    );
    const acc = inBin.filter((p) => p.predicted === p.class).length;
    return {
      bin: `${lo.toFixed(1)}–${Math.min(1, hi).toFixed(1)}`,
      n: inBin.length,
      confidence: inBin.length ? round(conf / inBin.length) : NaN,
      accuracy: inBin.length ? round(acc / inBin.length) : NaN,
    };
  });
  const ece = reliability.reduce(
    (s, r) => s + (r.n ? (r.n / n) * Math.abs(r.accuracy - r.confidence) : 0),
    0,
  );
  const systemsRight = systems.filter((s) =>
    predictions.filter((p) => p.system === s).every((p) =>
      p.predicted === p.class
    )
  );
  return {
    set,
    systems,
    n,
    accuracy: n ? round(right / n) : NaN,
    systemsRight,
    confusion,
    brier: n ? round(brier / n) : NaN,
    ece: round(ece),
    reliability,
    predictions,
  };
}

/**
 * Build the reference set from labelled runs (run.json `profile.class` is
 * `baseline`, `libos` or `linux`; unlabelled runs are skipped; sweep probes
 * should be left out by the caller): a baseline per host from its minkernel
 * runs, each run's features (timing ones relative to its host's baseline),
 * then each feature set calibrated and evaluated leave-one-system-out. Adds
 * the paper's points when `paper` is given.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { buildReference } from "./classify.ts";
 * import type { RunLike } from "./features.ts";
 * // Measured runs come from loadRuns (withoutProbes); two tiny ones here:
 * const run = (run_id: string, name: string, cls: "baseline" | "libos", code: number, boot: number): RunLike => ({
 *   record: {
 *     schema_version: 3, run_id, count: 3, host: { hostname: "box", cpu_model: "EPYC" },
 *     accelerator: { kind: "tcg" }, profile: { name, class: cls },
 *   },
 *   instances: aq.table({
 *     outcome: ["ready", "ready", "ready"], boot_ms: [boot, boot + 2, boot + 4], concurrency_at_start: [0, 1, 2],
 *     guest_code_insns_ready: [code, code, code], insns_guest_ready: [10 * code, 10 * code, 10 * code],
 *     cr3_writes_ready: [0, 0, 0], syscalls_ready: [0, 0, 0], cpu_ready_ms: [40, 42, 44], rss_peak_kib: [2e4, 2e4, 2e4],
 *   }),
 * });
 * const ref = buildReference([run("m1", "minkernel", "baseline", 14, 150), run("o1", "osv", "libos", 84000, 400)]);
 * console.log(ref.points.map((p) => `${p.system} ${p.class}`), ref.baselines.map((b) => b.host_key));
 * // ["minkernel baseline", "osv libos"] ["box|EPYC|tcg"]
 * console.log(ref.calibration); // {}: calibrating a set takes two classes with two systems each
 * ```
 */
export function buildReference(
  runs: readonly RunLike[],
  options: BuildOptions = {},
): Reference {
  const notes: string[] = [];
  const labelled = runs.filter((r) =>
    CLASSES.includes(r.record.profile?.class as SystemClass) &&
    readyCount(r.instances) > 0
  );
  if (runs.length - labelled.length) {
    notes.push(
      `${
        runs.length - labelled.length
      } run(s) without a class label or without a ready instance were left out`,
    );
  }
  const hosts = new Map<string, RunLike[]>();
  for (const r of labelled) {
    const k = hostKey(r.record);
    hosts.set(k, [...(hosts.get(k) ?? []), r]);
  }
  const baselines: Baseline[] = [];
  const points: ReferencePoint[] = [];
  for (const [key, group] of hosts) {
    // The timing baseline is the minkernel measured without the plugin.
    const plain = group.filter((r) => !r.record.insns);
    const base = pickBaselineRuns(plain.length ? plain : group);
    let baseline: Baseline | null = null;
    if (base.length) {
      baseline = measureBaseline(base, options);
      baselines.push(baseline);
    } else {
      notes.push(
        `host ${key}: no minkernel run, so no timing features for its runs`,
      );
    }
    for (const r of group) {
      const image = imageName(r.record);
      points.push({
        id: r.record.run_id,
        image,
        system: systemOf(image),
        class: r.record.profile!.class as SystemClass,
        source: "measured",
        host_key: key,
        count_n: r.record.count,
        pattern: r.record.pattern?.kind ?? null,
        // Timing features only from runs without the plugin (it slows guests unevenly).
        features: runFeatures(r, r.record.insns ? null : baseline, options),
      });
    }
  }
  if (options.paper) {
    points.push(...paperPoints(options.paper));
    notes.push(
      "paper points (source paper): boot ratio from the geometric mean of the paper's boot-time range (KVM, 256 instances every 5 ms), memory ratio from peak system memory; shown in figures, not used by either feature set",
    );
  }
  const ref: Reference = {
    version: 2,
    built_at: options.builtAt ?? null,
    baselines,
    scales: { ...DEFAULT_SCALES },
    calibration: {},
    evaluation: {},
    points,
    notes,
  };
  for (const set of ["work", "timing"] as const) {
    const c = calibrateSet(points, set);
    if (c) {
      ref.calibration[set] = c.calibration;
      ref.evaluation[set] = c.evaluation;
    } else {
      notes.push(
        `feature set ${set}: fewer than two classes with two systems each; not calibrated`,
      );
    }
  }
  return ref;
}

/** Full result of {@link classify}. */
export interface Classification extends Verdict {
  /** The classified run. */
  run_id: string;
  /** Its profile name. */
  image: string;
  /** The run's host key and accelerator. */
  host_key: string;
  /** kvm or tcg (null when run.json does not say). */
  accelerator: string | null;
  /** The class run.json claims (profile.class), for comparison; null when unlabelled. */
  label: SystemClass | null;
  /** The run's features. */
  features: FeatureVector;
  /** The baseline the timing features are relative to (null for boot work without one). */
  baseline: Baseline | null;
  /** LOSO evaluation of the set used. */
  evaluation: Evaluation | null;
  /** Reference runs and systems compared with. */
  compared: { runs: number; systems: number };
  /** Caveats of this verdict (distorted timing, default constants). */
  warnings: string[];
}

/** Options of {@link classify}. */
export interface ClassifyRunOptions extends ClassifyOptions {
  /** Minkernel runs of the run's host (checked; refused when not minkernel-like). */
  baselineRuns?: readonly RunLike[];
}

/** The run cannot be classified; the message says why. */
export class ClassifyError extends Error {
  /** An error whose message says why the run cannot be classified and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "ClassifyError";
  }
}

/**
 * Classify one run against a reference set. Boot work is used when the run
 * has it (no baseline needed; a given baseline is still checked), else the
 * timing features relative to a baseline of the run's own host and
 * accelerator: `baselineRuns`, else the reference's baseline of that host.
 * Throws {@link ClassifyError} for a run with no ready instance or without
 * a usable baseline, and `BaselineError` for a baseline that is not
 * minkernel-like or from another host.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { classify, loadReference } from "./classify.ts";
 * import type { RunLike } from "./features.ts";
 * const ref = await loadReference("data/reference"); // run from the project root
 * // A run folder is loaded with loadRun(dir); a timing-only (KVM) run also needs
 * // { baselineRuns: [await loadRun(minkernelDir)] } of the same host.
 * const run: RunLike = {
 *   record: {
 *     schema_version: 3, run_id: "r1", count: 2, host: { hostname: "box", cpu_model: "EPYC" },
 *     accelerator: { kind: "tcg" }, profile: { name: "my-unikernel", class: null },
 *   },
 *   instances: aq.table({ // boot work of a --insns run under TCG
 *     outcome: ["ready", "ready"], boot_ms: [60, 62], guest_code_insns_ready: [7000, 7100],
 *     insns_guest_ready: [4.5e6, 4.6e6], cr3_writes_ready: [1, 1], syscalls_ready: [0, 0],
 *   }),
 * };
 * const verdict = classify(run, ref);
 * console.log(verdict.class, verdict.set, verdict.nearest[0].system); // libos work unikraft
 * ```
 */
export function classify(
  run: RunLike,
  reference: Reference,
  options: ClassifyRunOptions = {},
): Classification {
  const warnings: string[] = [];
  const key = hostKey(run.record);
  const id = run.record.run_id;
  const ready = readyCount(run.instances);
  if (ready === 0) {
    throw new ClassifyError(
      `Cannot classify run ${id} (${
        imageName(run.record)
      }): none of its ${run.instances.numRows()} instances became ready, so it measured nothing; check its outcomes with deno task analyze ${id} and re-measure`,
    );
  }
  let baseline: Baseline | null = null;
  if (options.baselineRuns) {
    baseline = measureBaseline(options.baselineRuns, {
      ...options,
      forHost: key,
    });
  } else {
    baseline = reference.baselines.find((b) => b.host_key === key) ?? null;
  }
  const withBase = runFeatures(
    run,
    run.record.insns ? null : baseline,
    options,
  );
  const set = options.set ?? featureSetOf(withBase);
  if (set === null || (set === "timing" && !baseline)) {
    throw new ClassifyError(
      `Cannot classify run ${id}: it has no boot-work counts (measure with --insns under TCG) and no minkernel baseline of its host "${key}" is known; measure one there (deno task sweep --image minkernel --count 8 --back-to-back) and pass it with --baseline, or use deno task classify --measure`,
    );
  }
  if (run.record.insns && set === "timing") {
    warnings.push(
      "timing features of a run measured with --insns are distorted by the plugin's overhead",
    );
  }
  const calibration = reference.calibration[set] ?? DEFAULT_CALIBRATION;
  if (!reference.calibration[set]) {
    warnings.push(
      `the reference has no calibration for the ${set} features: default constants used`,
    );
  }
  const points = reference.points.filter((p) => p.source === "measured");
  const verdict = classifyFeatures(withBase, points, {
    ...options,
    set,
    scales: reference.scales,
  }, calibration);
  const used = pointsWith(points, set);
  const label = run.record.profile?.class ?? null;
  return {
    run_id: id,
    image: imageName(run.record),
    host_key: key,
    accelerator: run.record.accelerator?.kind ?? null,
    label: CLASSES.includes(label as SystemClass) ? label as SystemClass : null,
    ...verdict,
    features: withBase,
    // Boot work needs no baseline: report one only when it was given (and checked).
    baseline: set === "work" && !options.baselineRuns ? null : baseline,
    evaluation: reference.evaluation[set] ?? null,
    compared: {
      runs: used.length,
      systems: new Set(used.map((p) => p.system)).size,
    },
    warnings,
  };
}

const CLASS_WORDS: Record<SystemClass | "unknown", string> = {
  baseline: "minkernel-like (no operating system)",
  libos: "a library OS (unikernel)",
  linux: "a general-purpose OS (Linux-like)",
  unknown: "unknown: far from every known system",
};

function fmtValue(f: FeatureName, v: number | null): string {
  if (v === null) return "–";
  if (
    f.startsWith("log_") && (f === "log_code_insns" || f === "log_guest_insns")
  ) {
    return humanCount(10 ** v);
  }
  if (f === "log_cr3_writes" || f === "log_syscalls") {
    return humanCount(10 ** v - 1);
  }
  if (f === "uses_paging") return v ? "yes" : "no";
  if (f.endsWith("_ratio") && f.startsWith("log_")) {
    return `×${Math.exp(v).toFixed(2)}`;
  }
  return v.toFixed(2);
}

function humanCount(x: number): string {
  const r = Math.round(x);
  return r >= 1e9
    ? `${(r / 1e9).toFixed(1)} G`
    : r >= 1e6
    ? `${(r / 1e6).toFixed(1)} M`
    : r >= 1e4
    ? `${(r / 1e3).toFixed(0)} k`
    : String(r);
}

/**
 * A verdict in plain words: what the image is and how sure, the nearest
 * known systems, the features that decided it, and what was compared.
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { classify, loadReference, verdictText } from "./classify.ts";
 * import type { RunLike } from "./features.ts";
 * const ref = await loadReference("data/reference"); // run from the project root
 * const run: RunLike = {
 *   record: {
 *     schema_version: 3, run_id: "r1", count: 2, host: { hostname: "box", cpu_model: "EPYC" },
 *     accelerator: { kind: "tcg" }, profile: { name: "my-unikernel", class: null },
 *   },
 *   instances: aq.table({ // boot work of a --insns run under TCG
 *     outcome: ["ready", "ready"], boot_ms: [60, 62], guest_code_insns_ready: [7000, 7100],
 *     insns_guest_ready: [4.5e6, 4.6e6], cr3_writes_ready: [1, 1], syscalls_ready: [0, 0],
 *   }),
 * };
 * console.log(verdictText(classify(run, ref)));
 * // my-unikernel (run r1) is a library OS (unikernel): probability 1.00.
 * //   Class probabilities: baseline 0.00, libos 1.00, linux 0.00.
 * //   Nearest known systems: unikraft (libos, 0.01), solo5 (libos, 0.27), …
 * ```
 */
export function verdictText(c: Classification): string {
  const lines: string[] = [];
  const p = c.class === "unknown" ? null : c.probabilities[c.class];
  lines.push(
    `${c.image} (run ${c.run_id}) is ${CLASS_WORDS[c.class]}${
      p !== null ? `: probability ${p.toFixed(2)}` : ""
    }.`,
  );
  if (c.class === "unknown") {
    lines.push(
      `  Its nearest known run is ${
        c.distance.toFixed(2)
      } scaled units away; beyond ${
        c.unknownDistance.toFixed(2)
      } the tool does not answer.`,
    );
  }
  const probs = CLASSES.map((k) => `${k} ${c.probabilities[k].toFixed(2)}`)
    .join(", ");
  lines.push(`  Class probabilities: ${probs}.`);
  lines.push(
    `  Nearest known systems: ${
      c.nearest.slice(0, 4).map((n) =>
        `${n.system} (${n.class}, ${n.distance.toFixed(2)})`
      ).join(", ") || "none"
    }.`,
  );
  if (c.set === "work" && c.nearest.length) {
    lines.push(`  By its boot work it is most like ${c.nearest[0].system}.`);
  }
  const top = c.reasons.slice(0, 3);
  if (top.length) {
    lines.push(
      c.class === "unknown" ? "  What makes it far:" : "  What decided it:",
    );
    for (const r of top) {
      const o = r.other && c.class !== "unknown"
        ? `; nearest ${r.other.class} run (${r.other.system}) ${
          fmtValue(r.feature, r.other.value)
        }, ${Math.sqrt(r.other.term).toFixed(2)} units`
        : "";
      lines.push(
        `    - ${FEATURE_LABELS[r.feature]}: ${
          fmtValue(r.feature, r.value)
        }; nearest ${
          c.class === "unknown" ? "" : `${c.class} `
        }run (${r.chosen.system}) ${fmtValue(r.feature, r.chosen.value)}, ${
          Math.sqrt(r.chosen.term).toFixed(2)
        } units${o}`,
      );
    }
  }
  const setWords = c.set === "work"
    ? "boot-work features (instruction counts, TCG with --insns; no baseline needed)"
    : "timing features (relative to the minkernel baseline of the same host and accelerator)";
  lines.push(
    `  Compared: ${setWords}, with ${c.compared.runs} reference runs of ${c.compared.systems} systems; run measured on ${c.host_key}${
      c.baseline
        ? `; minkernel baseline ${
          c.baseline.runs.join(", ")
        } (${c.baseline.host_key}${
          c.set === "work" ? ", checked, not needed by these features" : ""
        })`
        : ""
    }.`,
  );
  if (c.evaluation) {
    const e = c.evaluation;
    lines.push(
      `  How sure the tool can be: with these features, held-out systems were right ${e.systemsRight.length}/${e.systems.length} (runs ${
        (e.accuracy * 100).toFixed(0)
      }%), Brier ${e.brier.toFixed(3)}, calibration error ${e.ece.toFixed(3)}.`,
    );
  }
  if (c.label && c.label !== c.class) {
    lines.push(`  Note: its profile says ${c.label}.`);
  }
  for (const w of c.warnings) lines.push(`  warning: ${w}`);
  return lines.join("\n");
}

/**
 * Serialise a reference set as JSON (stable key order, 2-space indent).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromReferenceJson, loadReference, toReferenceJson } from "./classify.ts";
 * const ref = await loadReference("data/reference"); // run from the project root
 * const text = toReferenceJson(ref);
 * assert.deepEqual(fromReferenceJson(text), ref);
 * console.log(text.split("\n")[1]); //   "version": 2,
 * ```
 */
export function toReferenceJson(reference: Reference): string {
  return JSON.stringify(reference, null, 2) + "\n";
}

/**
 * Parse and check reference.json. Throws {@link DatasetError} naming the
 * file when it is not a version-2 reference set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromReferenceJson } from "./classify.ts";
 * const file = "data/reference/reference.json"; // run from the project root
 * const ref = fromReferenceJson(await Deno.readTextFile(file), { file });
 * console.log(ref.version, ref.points.length > 0); // 2 true
 * assert.throws(() => fromReferenceJson('{"version": 1}', { file: "old.json" }), /"version" is 1, expected 2/);
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
  if (v?.version !== 2) {
    throw new DatasetError(
      file,
      `"version" is ${JSON.stringify(v?.version)}, expected 2`,
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
    version: 2,
    built_at: (v.built_at as string) ?? null,
    baselines: v.baselines as Baseline[],
    scales: { ...DEFAULT_SCALES, ...(v.scales as Record<FeatureName, number>) },
    calibration: (v.calibration as Reference["calibration"]) ?? {},
    evaluation: (v.evaluation as Reference["evaluation"]) ?? {},
    points,
    notes: (v.notes as string[]) ?? [],
  };
}

/**
 * The reference points as CSV (one row per point: id, image, system, class,
 * source, host_key, count_n, pattern, then every feature; empty = null).
 *
 * @example
 * ```ts
 * import { loadReference, referenceCsv } from "./classify.ts";
 * const ref = await loadReference("data/reference"); // run from the project root
 * console.log(referenceCsv(ref).split("\n")[0]);
 * // id,image,system,class,source,host_key,count_n,pattern,log_code_insns,log_guest_insns,…,log_mem_ratio
 * ```
 */
export function referenceCsv(reference: Reference): string {
  const rows = reference.points.map((p) => ({
    id: p.id,
    image: p.image,
    system: p.system,
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
    "system",
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
 * import { loadReference } from "./classify.ts";
 * const ref = await loadReference("data/reference"); // run from the project root
 * console.log(Object.keys(ref.calibration)); // ["work", "timing"]
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
 * import assert from "node:assert/strict";
 * import { loadReference, saveReference } from "./classify.ts";
 * const ref = await loadReference("data/reference"); // run from the project root
 * const dir = await Deno.makeTempDir();
 * await saveReference(dir, ref);
 * assert.deepEqual(await loadReference(dir), ref);
 * console.log([...Deno.readDirSync(dir)].map((e) => e.name).sort()); // ["points.csv", "reference.json"]
 * await Deno.remove(dir, { recursive: true });
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

/** A confusion matrix as aligned text (rows: true class; columns: predicted). */
export function confusionText(e: Evaluation): string {
  const cols = [...CLASSES, "unknown"] as const;
  const head = ["true \\ predicted", ...cols];
  const rows = CLASSES.map((
    c,
  ) => [c, ...cols.map((k) => String(e.confusion[c][k]))]);
  const w = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  return [head, ...rows].map((r) => r.map((x, i) => x.padEnd(w[i])).join("  "))
    .join("\n");
}
