/**
 * Figures of bootstorm datasets, drawn with Observable Plot into a
 * linkedom document (no browser) and returned as standalone, deterministic
 * SVG strings (fixed size, fixed font DejaVu Sans, no generated ids):
 *
 * - `timelineFigure`: one run's timeline (paper Figs 3, 5, 7, 9, 11);
 * - `concurrencyBinsFigure`: min/median/max ΔT per concurrency bin, one
 *   panel per run (Figs 4, 6, 8, 10, 12);
 * - `bootMemoryFigure`: boot time against memory with the fit and ρ;
 * - `ecdfFigure`: ECDF of boot time per image;
 * - `featureSpaceFigure` (+ `featurePoints`): the classifier's feature space;
 * - `phasesFigure`: where the boot time goes (QEMU start-up, firmware, kernel
 *   marks, ready) per image and per concurrency bin;
 * - `datasetFigures`: all of them for a run or sweep. Every figure is pure
 *   (data in, SVG out); `writeFigures` in `analysis/write_figures.ts` writes
 *   them as SVG and PNG (see analysis/render.ts).
 *
 * @module
 */
export {
  CLASS_COLORS,
  type DomDocument,
  FIGURE_WIDTH,
  type FigureOptions,
  svgDocument,
} from "./compose.ts";
export { shortPattern, timelineFigure } from "./timeline_figure.ts";
export { concurrencyBinsFigure } from "./bins_figure.ts";
export { bootMemoryFigure } from "./boot_memory_figure.ts";
export { ecdfFigure } from "./ecdf_figure.ts";
export {
  type FeaturePoint,
  featurePoints,
  featureSpaceFigure,
} from "./feature_space_figure.ts";
export { phasesFigure } from "./phases_figure.ts";
export { bootWorkFigure } from "./boot_work_figure.ts";
export {
  hostFigures,
  hostTimelineFigure,
  recoveryFigure,
} from "./hosts_figure.ts";
export {
  binWidthFor,
  datasetFigures,
  type NamedFigure,
  withoutProbes,
} from "./dataset_figures.ts";
