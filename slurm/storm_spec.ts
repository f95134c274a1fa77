/**
 * The storm specification (`storm.json` in the storm folder): what the
 * submitter asks every node to do, and the state it records as the job
 * goes. Each node's share (count, pattern, start offset) is computed here.
 * Pure, except `readStormSpec` / `writeStormSpec`.
 *
 * @module
 */
import { join } from "node:path";
import { type Pattern, patternKind } from "../launcher/pattern.ts";

/** One node's part of the storm, by Slurm task rank (SLURM_PROCID). */
export interface Share {
  /** Instances this node boots. */
  count: number;
  /** Its launch pattern (an interval keeps the cluster-wide cadence). */
  pattern: Pattern;
  /** This node's T_0 is the storm's T_0 plus this, ms (a cluster-wide cadence). */
  start_offset_ms: number;
}

/** What happened to one host, as the submitter saw it. */
export interface HostOutcome {
  /** Its Slurm task rank (null when it never said hello). */
  rank: number | null;
  /** How its part ended. */
  state: "finished" | "lost" | "refused" | "interrupted";
  /** Why it is lost or refused (null otherwise). */
  reason: string | null;
}

/** The content of `storm.json`. */
export interface StormSpec {
  /** Version of this format. */
  storm_version: 1;
  /** The storm's id (also its folder's name). */
  storm_id: string;
  /** Every message between the nodes and the submitter carries it. */
  token: string;
  /** When it was submitted (ISO 8601). */
  created_at: string;
  /** Hostname of the submitting host. */
  submit_host: string;
  /** Where the nodes reach the submitter (UDP). */
  coordinator: { host: string; port: number };
  /** Nodes of the job. */
  nodes: number;
  /** Slurm partition. */
  partition: string;
  /** The profile every node runs. */
  profile: { name: string; path: string };
  /** The profile's image and its sha256 (every node checks it has the same), null without one. */
  image: { path: string; sha256: string } | null;
  /** Profile params (`--param NAME=VALUE`). */
  params: Record<string, string>;
  /** The pattern as given on the command line. */
  pattern: Pattern;
  /** `count` (the same on every node) or `total` (split evenly). */
  split: { kind: "count"; count: number } | { kind: "total"; total: number };
  /** Per node, by rank. */
  shares: Share[];
  /** Accelerator (`--accel`). */
  accel: "auto" | "kvm" | "tcg";
  /** Per-instance boot timeout from T_s, ms (null: the profile's, or as the agent derives it). */
  timeout_ms: number | null;
  /** SIGTERM → SIGKILL grace period when stopping instances, ms (null: the launcher's default). */
  grace_ms: number | null;
  /** `--spawn-mode` (null: the launcher's choice for the pattern). */
  spawn_mode: "direct" | "prestart" | "fork" | null;
  /** QEMU phase mode (`--phases`). */
  phases: boolean;
  /** T_0 is the instant every node is ready plus this, ms. */
  start_margin_ms: number;
  /** Test only: each rank's clock reads this many ms off (local cluster: one shared clock). */
  inject_clock_offset_ms: number[];
  /** Run even when the memory pre-flight refuses a node (`--force`). */
  force: boolean;
  /** The Slurm job: its id once submitted, the job script and output file names in the storm folder. */
  slurm: { job_id: string | null; script: string; output: string };
  /** Where the storm is. */
  state:
    | "submitted"
    | "running"
    | "refused"
    | "finished"
    | "partial"
    | "cancelled"
    | "failed";
  /** Why the storm was refused or failed. */
  error: string | null;
  /** Outcome per host, written when the job has ended. */
  hosts: Record<string, HostOutcome>;
}

/**
 * Split `total` instances over `nodes` as evenly as possible (the first
 * nodes take one more).
 *
 * @example
 * ```ts
 * import { splitEvenly } from "./storm_spec.ts";
 * console.log(splitEvenly(100, 3)); // [34, 33, 33]
 * ```
 */
export function splitEvenly(total: number, nodes: number): number[] {
  const base = Math.floor(total / nodes);
  return Array.from(
    { length: nodes },
    (_, i) => base + (i < total % nodes ? 1 : 0),
  );
}

/**
 * Each node's share. `count`: every node boots `count` by the pattern.
 * `total`: the instances are split evenly; an interval pattern keeps its
 * cadence across the cluster (instance k of the storm on node k mod H at
 * T_0 + 2 ms + k·Δ: each node every H·Δ, node r starting r·Δ after T_0).
 *
 * @example
 * ```ts
 * import { shares } from "./storm_spec.ts";
 * const s = shares({ kind: "total", total: 6 }, { kind: "interval", intervalMs: 5 }, 3);
 * console.log(s.map((x) => [x.count, x.start_offset_ms])); // [[2, 0], [2, 5], [2, 10]]
 * ```
 */
export function shares(
  split: StormSpec["split"],
  pattern: Pattern,
  nodes: number,
): Share[] {
  if (split.kind === "count") {
    return Array.from(
      { length: nodes },
      () => ({ count: split.count, pattern, start_offset_ms: 0 }),
    );
  }
  if (split.total < nodes) {
    throw new Error(
      `Cannot split --total ${split.total} over ${nodes} nodes: give at least one instance per node (--total ≥ ${nodes}) or fewer --nodes`,
    );
  }
  const counts = splitEvenly(split.total, nodes);
  const kind = patternKind(pattern);
  return counts.map((count, r) => ({
    count,
    ...kind.split(pattern, { nodes, r }),
  }));
}

/** Path of `storm.json` in a storm folder. */
export function stormSpecPath(dir: string): string {
  return join(dir, "storm.json");
}

/** Read `storm.json`, with a clear error. */
export function readStormSpec(dir: string): StormSpec {
  const path = stormSpecPath(dir);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new Error(
      `Cannot read ${path}: ${
        (e as Error).message
      } (is ${dir} a storm folder written by deno task sweep --slurm, on a filesystem this host sees?)`,
    );
  }
  const s = JSON.parse(text) as StormSpec;
  if (s.storm_version !== 1) {
    throw new Error(
      `Cannot read ${path}: unknown storm_version ${s.storm_version}`,
    );
  }
  return s;
}

/** Write `storm.json` atomically. */
export function writeStormSpec(dir: string, spec: StormSpec): void {
  const path = stormSpecPath(dir);
  Deno.writeTextFileSync(path + ".tmp", JSON.stringify(spec, null, 2) + "\n");
  Deno.renameSync(path + ".tmp", path);
}
