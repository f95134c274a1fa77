/**
 * Analysis of bootstorm datasets: pure functions over arquero tables
 * (table → table), with loading at the edge.
 *
 * - load: `loadRun`, `loadSweep`, `loadRuns` (I/O), `fromRunJson`,
 *   `fromArrowDataset`, `fromCsvDataset` (pure codecs);
 * - the paper's figures as tables: `concurrencyBins` (Figs 4, 6, 8, 10, 12),
 *   `timelineSegments`, `bootingOverTime`, `memoryPeak` (Figs 3, 5, 7, 9,
 *   11); `summarize`, `outliers`, `ecdf`;
 * - statistics (thin calls into simple-statistics, seeded resampling):
 *   `correlate`, `bootMemoryCorrelation`, `compareMedians`, `abCompare`,
 *   `pearson`, `spearman`, `linearFit`, `bootstrapCi`, `bootstrapRatioCi`,
 *   `permutationTest`, `median`, `mean`, `quantileSorted`;
 * - phases (T_K, ΔT_R), boot work (`--insns`), multi-host storms;
 * - classification: `runFeatures`, `checkBaseline`, `buildReference`
 *   (calibrated leave-one-system-out), `classify`, `verdictText`;
 * - figures (Observable Plot, pure `(data, {document}) → SVG`), PNG and the
 *   self-contained HTML report.
 *
 * @example
 * ```ts ignore
 * import { concurrencyBins, loadSweep } from "./mod.ts";
 * concurrencyBins((await loadSweep("data/sweeps/<id>")).instances).print();
 * ```
 *
 * @module
 */
export {
  ANALYSIS_COLUMNS,
  DatasetError,
  findRunDirs,
  fromArrowDataset,
  fromCsvDataset,
  fromRunJson,
  imageName,
  type LoadOptions,
  loadRun,
  loadRuns,
  loadSweep,
  type Run,
  type RunSet,
  withRunColumns,
} from "./load.ts";
export type { ReadRunRecord } from "../dataset/run_record.ts";
export { concatTables, type Table } from "./columns.ts";
export { BIN_COLUMNS, type BinOptions, concurrencyBins } from "./bins.ts";
export { ecdf, outliers, summarize, type SummaryOptions } from "./summary.ts";
export {
  bootingOverTime,
  MEMORY_PEAK_COLUMNS,
  memoryColumn,
  memoryPeak,
  timelineSegments,
} from "./timeline.ts";
export { bootMemoryCorrelation, correlate } from "./correlation.ts";
export { abCompare, type AbResult, compareMedians } from "./compare.ts";
export {
  bootstrapCi,
  bootstrapRatioCi,
  linearFit,
  mean,
  modifiedZ,
  OUTLIER_Z,
  pearson,
  permutationTest,
  spearman,
} from "./stats.ts";
export { median, quantileSorted } from "./quantile.ts";
export {
  hasPhaseData,
  instancePhases,
  PHASE_INTERVALS,
  phaseBins,
  phaseGrowth,
  phasesOfRuns,
  phaseSummary,
} from "./phases.ts";
export { bootWorkSummary, hasBootWork } from "./boot_work.ts";
export {
  hasHosts,
  hostConcurrencyBins,
  hostNames,
  hostSummary,
  recoveryCurve,
  slowestHost,
  timeToFraction,
} from "./hosts.ts";
export {
  type Baseline,
  BaselineError,
  checkBaseline,
  CLASSES,
  DEFAULT_SCALES,
  FEATURE_LABELS,
  type FeatureName,
  FEATURES,
  type FeatureSet,
  type FeatureVector,
  hostKey,
  measureBaseline,
  pickBaselineRuns,
  runFeatures,
  type SystemClass,
  TIMING_FEATURES,
  WORK_FEATURES,
} from "./features.ts";
export {
  buildReference,
  type Classification,
  classify,
  ClassifyError,
  confusionText,
  type Evaluation,
  featureDistance,
  loadReference,
  paperPoints,
  type Reference,
  saveReference,
  systemOf,
  verdictText,
} from "./classify.ts";
export { formatNumber, formatTable } from "./format.ts";
export { renderPng } from "./render.ts";
export { reportHtml } from "./report.ts";
export {
  binWidthFor,
  bootMemoryFigure,
  bootWorkFigure,
  concurrencyBinsFigure,
  datasetFigures,
  ecdfFigure,
  featurePoints,
  featureSpaceFigure,
  hostTimelineFigure,
  phasesFigure,
  recoveryFigure,
  shortPattern,
  svgDocument,
  timelineFigure,
  withoutProbes,
} from "./figures/mod.ts";
export {
  DATA_ROOT,
  datasetName,
  defaultDataset,
  writeFigures,
  writeReport,
} from "./write_figures.ts";
