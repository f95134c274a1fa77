/**
 * bootstorm: measure how fast virtual machines boot when many start at once,
 * and classify library operating systems by those measurements.
 *
 * - `dataset/`: the contract between the launcher and the analysis;
 * - `launcher/`: profiles, launch patterns, the measuring program, sweeps;
 * - `analysis/`: tables, statistics, the classifier, figures and reports;
 * - `warehouse/`: Parquet export and SQL over many runs (loads DuckDB only
 *   when called).
 *
 * @example
 * ```ts ignore
 * import { concurrencyBins, loadProfile, loadRun, runBatch } from "./mod.ts";
 * const { runDir } = await runBatch(await loadProfile("minkernel-microvm"), { count: 8, pattern: { kind: "back-to-back" } });
 * concurrencyBins((await loadRun(runDir)).instances).print();
 * ```
 *
 * @module
 */
export * from "./dataset/mod.ts";
export * from "./launcher/mod.ts";
export * from "./analysis/mod.ts";
export * from "./warehouse/mod.ts";
