/**
 * The launcher: spawns N instances of a profile by a launch pattern, times
 * them by the paper's method (T_s just before each start, T_e at the ready
 * condition), samples memory (the run's own cgroup and the whole system),
 * optionally counts each guest's boot work (a TCG plugin), and writes a
 * dataset (`../dataset/`) as instances complete. Sweeps run grids of such
 * batches with a memory pre-flight (`estimateCell`, `preflightCell` against
 * `availableKib`; probe costs cached in `PROBE_CACHE`).
 *
 * @example
 * ```ts ignore
 * import { loadProfile, runBatch } from "./mod.ts";
 * const { runDir } = await runBatch(await loadProfile("minkernel-microvm"), { count: 4, pattern: { kind: "back-to-back" }, accel: "tcg" });
 * ```
 *
 * @module
 */
export {
  assertImagePresent,
  expandArgv,
  listProfileNames,
  loadProfile,
  parseProfile,
  type Profile,
  type ProfileClass,
  ProfileError,
  PROFILES_DIR,
  type ReadyRule,
  resolveParams,
  type Teardown,
  withImageFile,
} from "./profile.ts";
export {
  type Pattern,
  type PatternKind,
  patternKind,
  patternLabel,
  type PatternRecord,
  PATTERNS,
  type SpawnMode,
} from "./pattern.ts";
export {
  parseReadyRule,
  READINESS,
  readinessFor,
  type ReadinessKind,
  type ReadinessStrategy,
} from "./readiness.ts";
export type { InstanceState } from "./instance.ts";
export {
  launch,
  type LaunchEvent,
  type LaunchOptions,
  type LaunchResult,
} from "./launch.ts";
export {
  type BatchOptions,
  type BatchResult,
  instanceColumnsFor,
  runBatch,
} from "./run_batch.ts";
export { type Accelerator, chooseAccelerator } from "./accel.ts";
export { type Clock, clockSource, monotonicMs, realClock } from "./clock.ts";
export { denoRunner, type Proc, type ProcessRunner } from "./runner.ts";
export { hostInfo, newRunId } from "./run_record.ts";
export { hostStealMs, parseStealMs } from "./host_steal.ts";
export {
  availableKib,
  loadSweepState,
  newSweep,
  PROBE_CACHE,
  probeImage,
  runSweep,
  type SweepState,
} from "./sweep.ts";
export {
  type Cell,
  type CellEstimate,
  defaultPlan,
  estimateCell,
  expandGrid,
  type ImageCost,
  type Preflight,
  preflightCell,
} from "./sweep_plan.ts";
export { parseCommand, UsageError } from "./sweep_args.ts";
export { ensureInsnsPlugin, InsnsError } from "./insns/mod.ts";
export {
  type MemorySourceKind,
  type MemorySourceStats,
} from "./sampler/memory_source.ts";
