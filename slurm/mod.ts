/**
 * Multi-host storms on Slurm: one launcher per node, one start instant,
 * one merged dataset (`deno task sweep --slurm …`), and a local N-node
 * test cluster on one machine (`deno task cluster up|down`).
 *
 * - cluster: `clusterUp`, `clusterDown`, `clusterStatus`, `crashNode`,
 *   `clusterLeftovers` and the pure plan and config files (`clusterPlan`,
 *   `slurmConf`, `cgroupConf`, `hostsFile`, `nodeStartScript`);
 * - clock offset: `estimateOffset` (round trips), `hostClock`, `realtimeMs`;
 * - start instant: `chooseStartInstant`, `toNodeClock`, `localStart`;
 * - coordination while the job runs: `Coordinator` (submitting host),
 *   `CoordinatorClient` (node), the messages in protocol.ts;
 * - node agent: `runAgent`;
 * - submit: `parseStormArgs`, `findSlurm`, `choosePartition`, `jobScript`,
 *   `runStorm`, `stormMain`; storm.json: `shares`, `splitEvenly`;
 * - merge: `mergeStorm`, `mergeRows`, `readHosts`.
 *
 * @example
 * ```ts ignore
 * // needs root: a local Slurm cluster (Debian's slurm-wlm and munge)
 * import { clusterUp, mergeStorm } from "./mod.ts";
 * await clusterUp({ nodes: 3 });
 * // … deno task sweep --slurm --nodes 3 --count 16 --back-to-back …
 * const merged = await mergeStorm("data/storms/<id>");
 * console.log(merged.skew.start_skew_ms);
 * ```
 *
 * @module
 */
export * from "./agent.ts";
export * from "./clock_offset.ts";
export * from "./cluster.ts";
export * from "./cluster_config.ts";
export * from "./coordinator.ts";
export * from "./coordinator_client.ts";
export * from "./merge.ts";
export * from "./protocol.ts";
export * from "./start_instant.ts";
export * from "./storm_args.ts";
export * from "./storm_main.ts";
export * from "./storm_spec.ts";
export * from "./submit.ts";
