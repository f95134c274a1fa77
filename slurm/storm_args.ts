/**
 * The command line of `deno task sweep --slurm …`: the multi-host flags
 * (`--nodes`, `--partition`, `--total`, `--start-margin`, `--coordinator`,
 * `--force`, and the test-only `--inject-clock-offset`) taken out, the rest
 * parsed by the launcher's own parser as one batch. Pure.
 *
 * @module
 */
import type { BatchArgs, Command } from "../launcher/sweep_args.ts";
import { DEFAULT_START_MARGIN_MS } from "./start_instant.ts";

/** A command-line mistake of `--slurm`, reported without a stack trace. */
export class UsageError extends Error {}

/** The launcher's own command-line parser (launcher/sweep_args.ts `parseCommand`). */
export type ParseCommand = (args: string[]) => Command;

/** A parsed `--slurm` command line. */
export interface StormArgs {
  /** The rest of the command line, parsed by the launcher as one batch. */
  batch: BatchArgs;
  /** Nodes of the job (null: every node of the partition). */
  nodes: number | null;
  /** Partition (null: the cluster's default partition). */
  partition: string | null;
  /** `--count` (instances per node) or `--total` (split evenly). */
  split: { kind: "count"; count: number } | { kind: "total"; total: number };
  /** `--start-margin`: T_0 is the instant every node is ready plus this, ms. */
  startMarginMs: number;
  /** Address the nodes reach this host at (null: chosen). */
  coordinator: string | null;
  /** Test only: per rank, ms added to that node's clock. */
  injectClockOffsetMs: number[];
  /** `--force`: run even when the memory pre-flight refuses a node. */
  force: boolean;
  /** Give up when a node has not reported within this long after submission, ms. */
  agentTimeoutMs: number;
}

/** Help for the multi-host flags (appended to the sweep's --help). */
export const STORM_HELP = `
Multi-host storms on Slurm (one launcher per node, one start instant, one merged dataset):
  deno task sweep --slurm [--nodes N] [--partition P] --image I (--count N | --total N) [pattern] [options]
  --slurm             submit one Slurm job of N nodes (sbatch; srun runs one launcher per node)
  --nodes N           nodes of the job                                             [every node of the partition]
  --partition P       Slurm partition                                              [the default partition]
  --count N           instances per node
  --total N           instances in all, split evenly; --interval keeps its cadence cluster-wide
  --start-margin MS   T_0 = the instant every node is ready + MS                   [${DEFAULT_START_MARGIN_MS}]
  --coordinator ADDR  address of this host the nodes reach (UDP)                   [the local cluster's bridge, else
                                                                                   this host's name]
  --force             run even when the memory pre-flight refuses a node
  Needs Slurm's client commands and SLURM_CONF (or /etc/slurm/slurm.conf); the profile, its image
  and this project must be at the same path on every node (a shared filesystem). Output: the storm
  folder (data/storms/<id>/: the merged dataset, with nodes/<host>/ holding each node's run).
  Try it locally: deno task cluster up.
`;

function take(
  args: string[],
  flag: string,
  hasValue: boolean,
): { found: boolean; value: string | null; rest: string[] } {
  const rest: string[] = [];
  let found = false, value: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === flag) {
      found = true;
      if (hasValue) {
        if (i + 1 >= args.length) {
          throw new UsageError(`${flag} needs a value`);
        }
        value = args[++i];
      }
    } else if (hasValue && a.startsWith(`${flag}=`)) {
      found = true;
      value = a.slice(flag.length + 1);
    } else rest.push(a);
  }
  return { found, value, rest };
}

function whole(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(
      `Invalid ${flag} ${JSON.stringify(v)}: expected a whole number ≥ 1`,
    );
  }
  return n;
}

/**
 * Whether a sweep command line asks for a multi-host storm.
 *
 * @example
 * ```ts
 * import { wantsSlurm } from "./storm_args.ts";
 * console.log(wantsSlurm(["--slurm", "--count", "4"])); // true
 * ```
 */
export function wantsSlurm(args: readonly string[]): boolean {
  return args.includes("--slurm");
}

/**
 * Parse a `--slurm` command line. Throws UsageError naming the flag and
 * the fix.
 *
 * @example
 * ```ts
 * import { parseStormArgs } from "./storm_args.ts";
 * import { parseCommand } from "../launcher/sweep_args.ts";
 * const a = parseStormArgs(["--slurm", "--nodes", "3", "--total", "48", "--back-to-back"], parseCommand);
 * console.log(a.nodes, a.split); // 3 { kind: "total", total: 48 }
 * ```
 */
export function parseStormArgs(
  args: readonly string[],
  parseCommand: ParseCommand,
): StormArgs {
  let rest = take([...args], "--slurm", false).rest;
  const pick = (flag: string, hasValue = true) => {
    const r = take(rest, flag, hasValue);
    rest = r.rest;
    return r;
  };
  const nodes = pick("--nodes");
  const partition = pick("--partition");
  const total = pick("--total");
  const margin = pick("--start-margin");
  const coordinator = pick("--coordinator");
  const inject = pick("--inject-clock-offset");
  const force = pick("--force", false);
  const agentTimeout = pick("--agent-timeout");
  for (const bad of ["--plan", "--resume", "--full", "--dry-run", "--repeat"]) {
    if (rest.some((a) => a === bad || a.startsWith(`${bad}=`))) {
      throw new UsageError(
        `${bad} does not combine with --slurm: a multi-host storm is one batch per node (one --image, one --count or --total, one pattern)`,
      );
    }
  }
  const hasCount = rest.some((a) =>
    a === "--count" || a.startsWith("--count=")
  );
  if (total.found && hasCount) {
    throw new UsageError(
      "Give --count (instances per node) or --total (split evenly), not both",
    );
  }
  let cmd: Command;
  try {
    cmd = parseCommand(rest.length ? rest : ["--count", "16"]);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (cmd.kind === "help") {
    throw new UsageError("--help: see deno task sweep --help");
  }
  if (cmd.kind !== "batch") {
    throw new UsageError(
      "--slurm runs one batch per node: give one --image, one --count or --total and one pattern (grids are single-host only)",
    );
  }
  const startMarginMs = margin.value === null
    ? DEFAULT_START_MARGIN_MS
    : Number(margin.value);
  if (!(startMarginMs > 0)) {
    throw new UsageError(
      `Invalid --start-margin ${
        JSON.stringify(margin.value)
      }: expected a positive number of ms`,
    );
  }
  const injectClockOffsetMs = inject.value === null
    ? []
    : inject.value.split(",").map((v) => {
      const n = Number(v);
      if (!Number.isFinite(n)) {
        throw new UsageError(
          `Invalid --inject-clock-offset ${
            JSON.stringify(inject.value)
          }: expected ms per rank, e.g. 0,250,-400`,
        );
      }
      return n;
    });
  return {
    batch: cmd.batch,
    nodes: nodes.value === null ? null : whole("--nodes", nodes.value),
    partition: partition.value,
    split: total.found
      ? { kind: "total", total: whole("--total", total.value!) }
      : { kind: "count", count: cmd.batch.count },
    startMarginMs,
    coordinator: coordinator.value,
    injectClockOffsetMs,
    force: force.found,
    agentTimeoutMs: agentTimeout.value === null
      ? 120000
      : whole("--agent-timeout", agentTimeout.value),
  };
}
