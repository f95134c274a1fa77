/**
 * Analysis of bootstorm datasets: pure functions over arquero tables.
 *
 * - load: `loadRun`, `loadSweep`, `loadRuns` (I/O) and the pure codecs
 *   `fromRunJson`, `fromArrowDataset`, `fromCsvDataset`, `withRunColumns`;
 * - `concurrencyBins` (paper Figs 4, 6, 8, 10, 12);
 * - `timelineSegments`, `bootingOverTime`, `memoryPeak` (Figs 3, 5, 7, 9, 11);
 * - `summarize`, `outliers`, `ecdf`;
 * - `correlate`, `bootMemoryCorrelation`, `compareMedians`;
 * - phases (T_K, ΔT_R): `instancePhases`, `phasesOfRuns`, `phaseSummary`,
 *   `phaseBins`, `phaseGrowth`;
 * - multi-host storms (`host` column): `hostSummary`, `slowestHost`,
 *   `hostConcurrencyBins`, `recoveryCurve`, `timeToFraction`;
 * - boot work: `bootWorkSummary`;
 * - classification: `runFeatures`, `checkBaseline`, `measureBaseline`,
 *   `buildReference` (calibrated leave-one-system-out), `classify`,
 *   `verdictText` (see analysis/README.md for what it can and cannot tell);
 * - figures (Observable Plot, pure `(data, {document}) → SVG`), PNG rendering
 *   and the self-contained HTML report.
 *
 * The steps are arquero verbs and the statistics simple-statistics calls;
 * `concurrencyBins` and `summarize` take a typed-array fast path from
 * 100,000 rows (`engine` option; see analysis/README.md for what stays
 * hand-written and the measurement that keeps it).
 *
 * @module
 */
export * from "./arrow_stream.ts";
export * from "./bins.ts";
export * from "./boot_work.ts";
export * from "./classify.ts";
export * from "./columns.ts";
export * from "./compare.ts";
export * from "./correlation.ts";
export * from "./features.ts";
export * from "./figures/mod.ts";
export * from "./format.ts";
export * from "./grouped.ts";
export * from "./hosts.ts";
export * from "./load.ts";
export * from "./phases.ts";
export * from "../dataset/prng.ts";
export * from "./quantile.ts";
export * from "./render.ts";
export * from "./report.ts";
export * from "./stats.ts";
export * from "./summary.ts";
export * from "./timeline.ts";
