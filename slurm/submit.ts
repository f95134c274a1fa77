/**
 * The submitting side of a multi-host storm (`deno task sweep --slurm …`):
 * check Slurm and the partition, write the storm folder and its job
 * script, submit one job of N nodes with `sbatch` (its `srun` runs one
 * agent per node), coordinate the start instant while the job runs, and
 * merge the node runs into one dataset when it has ended. Ctrl-C cancels
 * the job (`scancel`): Slurm reaps everything on every node.
 *
 * @module
 */
import { execa } from "execa";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { hostname } from "node:os";
import { ensureImage } from "../images/ensure.ts";
import { patternLabel } from "../launcher/pattern.ts";
import { loadProfile } from "../launcher/profile.ts";
import { newRunId } from "../launcher/run_record.ts";
import { sha256File } from "../dataset/checksum.ts";
import { which } from "../launcher/runner.ts";
import { bridgeAddress, shQuote } from "./cluster_config.ts";
import { localClusterPlan } from "./cluster.ts";
import { Coordinator, type CoordinatorEvent } from "./coordinator.ts";
import { type MergeResult, mergeStorm } from "./merge.ts";
import type { StormArgs } from "./storm_args.ts";
import {
  type HostOutcome,
  shares,
  type StormSpec,
  writeStormSpec,
} from "./storm_spec.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A storm that cannot be submitted or started; the message names the problem and the fix. */
export class StormError extends Error {
  /** An error whose message names the problem and the fix. */
  constructor(message: string) {
    super(message);
    this.name = "StormError";
  }
}

/** Where Slurm's commands point. */
export interface SlurmTarget {
  /** Environment for Slurm's commands (SLURM_CONF when needed). */
  env: Record<string, string>;
  /** Which configuration: `SLURM_CONF`, `/etc/slurm/slurm.conf` or the local test cluster. */
  source: string;
  /** The local test cluster's bridge address when that is the target. */
  localBridge: string | null;
}

const SLURM_COMMANDS = [
  "sbatch",
  "srun",
  "squeue",
  "scancel",
  "sinfo",
  "scontrol",
];

/**
 * Find Slurm's client commands and configuration: `SLURM_CONF`, else
 * `/etc/slurm/slurm.conf`, else the local test cluster (`deno task cluster
 * up`). Throws {@link StormError} with the fix when there is none.
 */
export function findSlurm(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): SlurmTarget {
  const missing = SLURM_COMMANDS.filter((c) => which(c) === null);
  if (missing.length) {
    throw new StormError(
      `Cannot submit a multi-host storm: Slurm's ${
        missing.join(", ")
      } not found on PATH. On a Slurm cluster, run this where Slurm's client commands are installed (a login node); to try it on this machine, deno task cluster up installs Debian's slurm-wlm and starts a local 3-node cluster`,
    );
  }
  const local = localClusterPlan();
  if (env.SLURM_CONF) {
    const isLocal = local !== null &&
      resolve(env.SLURM_CONF) === `${local.dir}/etc/slurm.conf`;
    return {
      env: { SLURM_CONF: env.SLURM_CONF },
      source: `SLURM_CONF=${env.SLURM_CONF}`,
      localBridge: isLocal ? bridgeAddress(local!) : null,
    };
  }
  try {
    Deno.statSync("/etc/slurm/slurm.conf");
    return { env: {}, source: "/etc/slurm/slurm.conf", localBridge: null };
  } catch {
    // none: the local cluster?
  }
  if (local) {
    return {
      env: { SLURM_CONF: `${local.dir}/etc/slurm.conf` },
      source: `the local test cluster (SLURM_CONF=${local.dir}/etc/slurm.conf)`,
      localBridge: bridgeAddress(local),
    };
  }
  throw new StormError(
    "Cannot submit a multi-host storm: no Slurm configuration (SLURM_CONF is not set and /etc/slurm/slurm.conf does not exist). Point SLURM_CONF at your cluster's slurm.conf, or start the local test cluster: deno task cluster up",
  );
}

async function slurm(
  target: SlurmTarget,
  cmd: string,
  args: string[],
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const r = await execa(cmd, args, {
    reject: false,
    env: target.env,
    stdin: "ignore",
  });
  return {
    ok: r.exitCode === 0,
    stdout: String(r.stdout ?? ""),
    stderr: String(r.stderr ?? ""),
  };
}

/** A partition as `sinfo` reports it. */
export interface PartitionInfo {
  /** Partition name (without sinfo's `*`). */
  name: string;
  /** Whether it is up. */
  available: boolean;
  /** Nodes in it, over every node state. */
  nodes: number;
  /** Whether it is the cluster's default partition. */
  isDefault: boolean;
}

/**
 * Parse `sinfo -h -o "%P|%a|%D"` output (one line per partition and node
 * state; `*` marks the default partition).
 *
 * @example
 * ```ts
 * import { parsePartitions } from "./submit.ts";
 * console.log(parsePartitions("storm*|up|2\nstorm*|up|1\ngpu|up|4\n"));
 * // [{ name: "storm", available: true, nodes: 3, isDefault: true }, { name: "gpu", … }]
 * ```
 */
export function parsePartitions(text: string): PartitionInfo[] {
  const by = new Map<string, PartitionInfo>();
  for (const line of text.trim().split("\n")) {
    const [p, a, d] = line.trim().split("|");
    if (!p) continue;
    const name = p.replace(/\*$/, "");
    const cur = by.get(name) ??
      { name, available: a === "up", nodes: 0, isDefault: p.endsWith("*") };
    cur.nodes += Number(d) || 0;
    by.set(name, cur);
  }
  return [...by.values()];
}

/** The partition to use, with a clear error when there is none or it is unknown. */
export async function choosePartition(
  target: SlurmTarget,
  wanted: string | null,
): Promise<PartitionInfo> {
  const r = await slurm(target, "sinfo", ["-h", "-o", "%P|%a|%D"]);
  if (!r.ok) {
    throw new StormError(
      `Cannot reach Slurm (${target.source}): sinfo failed: ${
        r.stderr.trim() || "no output"
      }. Check that slurmctld runs and SLURM_CONF is right (local cluster: deno task cluster up)`,
    );
  }
  const parts = parsePartitions(r.stdout);
  if (parts.length === 0) {
    throw new StormError(
      `Cannot submit a multi-host storm: Slurm (${target.source}) has no partition. Add one to slurm.conf (PartitionName=… Nodes=…), or use the local test cluster: deno task cluster up`,
    );
  }
  const p = wanted === null
    ? parts.find((x) => x.isDefault)
    : parts.find((x) => x.name === wanted);
  if (!p) {
    throw new StormError(
      wanted === null
        ? `Cannot choose a partition: Slurm has no default partition; pass --partition NAME (one of ${
          parts.map((x) => x.name).join(", ")
        })`
        : `Cannot submit to partition "${wanted}": no such partition; pass --partition with one of ${
          parts.map((x) => x.name).join(", ")
        }`,
    );
  }
  if (!p.available) {
    throw new StormError(
      `Cannot submit to partition "${p.name}": it is not up (sinfo says so); ask your admin, or pick another with --partition`,
    );
  }
  return p;
}

/**
 * The job script: one `srun` step, one agent per node, kept in the
 * foreground while its guests live.
 */
export function jobScript(
  spec: StormSpec,
  options: { deno: string; root: string; dir: string },
): string {
  const q = shQuote;
  const agent = [
    q(options.deno),
    "run",
    "-A",
    "--v8-flags=--no-concurrent-recompilation,--no-concurrent-osr",
    q(join(options.root, "cli/storm_agent.ts")),
    "--storm",
    q(options.dir),
    "--coordinator",
    q(`${spec.coordinator.host}:${spec.coordinator.port}`),
    "--token",
    q(spec.token),
  ].join(" ");
  return `#!/bin/sh
# bootstorm storm ${spec.storm_id}: one launcher per node (written by deno task sweep --slurm).
# Every process a task starts belongs to its step: scancel (or the step's end) reaps them all.
exec srun --nodes=${spec.nodes} --ntasks=${spec.nodes} --ntasks-per-node=1 \\
  --kill-on-bad-exit=0 --no-kill --label --unbuffered \\
  ${agent}
`;
}

/** Options of {@link runStorm}. */
export interface StormOptions {
  /** Cancels the storm (scancel); the merge then is skipped. */
  signal?: AbortSignal;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** What a storm produced. */
export interface StormResult {
  /** The storm folder. */
  dir: string;
  /** Its storm.json as last written. */
  spec: StormSpec;
  /** The merged dataset (null when cancelled). */
  merged: MergeResult | null;
  /** 0 complete, 1 partial (a node lost), 130 cancelled. */
  code: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function jobState(
  target: SlurmTarget,
  jobId: string,
): Promise<{ state: string | null; nodes: string | null }> {
  const r = await slurm(target, "squeue", ["-h", "-j", jobId, "-o", "%T|%N"]);
  const line = r.stdout.trim();
  if (!r.ok || !line) return { state: null, nodes: null };
  const [state, nodes] = line.split("|");
  return { state, nodes: nodes || null };
}

async function expandHosts(
  target: SlurmTarget,
  list: string,
): Promise<string[]> {
  const r = await slurm(target, "scontrol", ["show", "hostnames", list]);
  return r.stdout.trim().split("\n").filter(Boolean);
}

function tail(path: string, lines = 6): string {
  try {
    return Deno.readTextFileSync(path).trim().split("\n").slice(-lines).join(
      " | ",
    );
  } catch {
    return "";
  }
}

async function lostReason(
  target: SlurmTarget,
  host: string,
  lastHeardMs: number | null,
  t0: number | null,
  outputFile: string,
): Promise<string> {
  const r = await slurm(target, "scontrol", ["show", "node", host, "-o"]);
  const state = /State=(\S+)/.exec(r.stdout)?.[1] ?? "unknown";
  const reason = /Reason=(.*?)(?= \w+=|$)/.exec(r.stdout)?.[1]?.trim();
  const said = (() => {
    try {
      return Deno.readTextFileSync(outputFile).split("\n").filter((l) =>
        l.includes(host) && /error/i.test(l)
      ).map((l) => l.trim()).slice(-1)[0];
    } catch {
      return undefined;
    }
  })();
  const when = lastHeardMs !== null && t0 !== null
    ? `stopped reporting ${((lastHeardMs - t0) / 1000).toFixed(1)} s after T_0`
    : "never reported";
  return `${host} ${when} (Slurm: node ${state}${
    reason ? `, "${reason}"` : ""
  }${said ? `; ${said}` : ""})`;
}

/**
 * Run one multi-host storm end to end; returns the storm folder, its spec,
 * the merge and the exit code. Throws {@link StormError} when it cannot be
 * submitted or a node refused before T_0.
 *
 * @example
 * ```ts ignore
 * // needs a Slurm cluster (deno task cluster up)
 * const r = await runStorm(parseStormArgs(["--slurm", "--count", "16"], parseCommand));
 * ```
 */
export async function runStorm(
  args: StormArgs,
  options: StormOptions = {},
): Promise<StormResult> {
  const log = options.log ?? ((l: string) => console.error(`bootstorm: ${l}`));
  const target = findSlurm();
  const part = await choosePartition(target, args.partition);
  const nodes = args.nodes ?? part.nodes;
  if (nodes > part.nodes) {
    throw new StormError(
      `Cannot run on ${nodes} nodes: partition "${part.name}" has ${part.nodes}; lower --nodes`,
    );
  }
  const profile = await loadProfile(args.batch.image);
  await ensureImage(profile);
  const id = newRunId();
  const dir = resolve(args.batch.out ?? join(ROOT, "data/storms"), id);
  Deno.mkdirSync(join(dir, "nodes"), { recursive: true });
  const bind = args.coordinator ?? target.localBridge ?? "0.0.0.0";
  const advertised = args.coordinator ?? target.localBridge ??
    hostname().split(".")[0];
  const token = crypto.randomUUID();
  const ended = new Set<string>();
  const onEvent = (ev: CoordinatorEvent) => {
    if (ev.type === "hello") {
      log(
        `${ev.host}: ${
          ev.preflight.ok ? "pre-flight ok" : `refused: ${ev.preflight.error}`
        }`,
      );
    } else if (ev.type === "prestart") {
      log(`every node passed its pre-flight: pre-starting instances`);
    } else if (ev.type === "go") {
      log(`every node is ready: T_0 = ${new Date(ev.t0).toISOString()}`);
    } else if (ev.type === "done") ended.add(ev.host);
  };
  const coordinator = await Coordinator.start({
    bind,
    token,
    nodes,
    marginMs: args.startMarginMs,
    force: args.force,
    onEvent,
  });
  const spec: StormSpec = {
    storm_version: 1,
    storm_id: id,
    token,
    created_at: new Date().toISOString(),
    submit_host: hostname(),
    coordinator: { host: advertised, port: coordinator.address.port },
    nodes,
    partition: part.name,
    profile: { name: profile.name, path: profile.path },
    image: profile.image
      ? { path: profile.image, sha256: await sha256File(profile.image) }
      : null,
    params: args.batch.params,
    pattern: args.batch.pattern,
    split: args.split,
    shares: shares(args.split, args.batch.pattern, nodes),
    accel: args.batch.accel,
    timeout_ms: args.batch.timeoutMs ?? null,
    grace_ms: args.batch.graceMs ?? null,
    spawn_mode: args.batch.spawnMode ?? null,
    phases: args.batch.phases ?? false,
    start_margin_ms: args.startMarginMs,
    inject_clock_offset_ms: args.injectClockOffsetMs,
    force: args.force,
    slurm: { job_id: null, script: "job.sh", output: "slurm-%j.out" },
    state: "submitted",
    error: null,
    hosts: {},
  };
  writeStormSpec(dir, spec);
  const script = join(dir, "job.sh");
  Deno.writeTextFileSync(
    script,
    jobScript(spec, { deno: Deno.execPath(), root: ROOT, dir }),
  );
  const total = spec.shares.reduce((s, x) => s + x.count, 0);
  log(
    `storm ${id}: ${profile.name}, ${
      patternLabel(args.batch.pattern)
    }, ${total} instances on ${nodes} nodes of partition ${part.name} (${target.source}) → ${dir}`,
  );
  const sb = await slurm(target, "sbatch", [
    "--parsable",
    `--job-name=bootstorm-${id.slice(-6)}`,
    `--nodes=${nodes}`,
    "--ntasks-per-node=1",
    "--exclusive",
    "--no-kill",
    `--partition=${part.name}`,
    `--output=${join(dir, "slurm-%j.out")}`,
    `--chdir=${ROOT}`,
    "--export=ALL",
    script,
  ]);
  if (!sb.ok) {
    coordinator.close();
    spec.state = "failed";
    spec.error = `sbatch failed: ${sb.stderr.trim()}`;
    writeStormSpec(dir, spec);
    throw new StormError(
      `Cannot submit the storm: sbatch failed: ${
        sb.stderr.trim() || "no output"
      }`,
    );
  }
  const jobId = sb.stdout.trim().split(";")[0];
  spec.slurm.job_id = jobId;
  spec.slurm.output = `slurm-${jobId}.out`;
  spec.state = "running";
  writeStormSpec(dir, spec);
  log(`submitted job ${jobId} (sbatch ${script})`);
  const outputFile = join(dir, spec.slurm.output);

  let cancelled = false;
  let jobHosts: string[] = [];
  const submitted = Date.now();
  let allDoneAt: number | null = null;
  const silentLogged = new Set<string>();
  try {
    while (true) {
      if (options.signal?.aborted && !cancelled) {
        cancelled = true;
        log(`interrupted: cancelling job ${jobId} (scancel)`);
        coordinator.abort("the submitter was interrupted");
        await slurm(target, "scancel", [jobId]);
      }
      const js = await jobState(target, jobId);
      if (js.nodes && jobHosts.length === 0) {
        jobHosts = await expandHosts(target, js.nodes);
      }
      if (js.state?.startsWith("CANCELLED") && !cancelled) {
        cancelled = true;
        log(
          `job ${jobId} was cancelled (scancel): Slurm reaps every process on every node`,
        );
      }
      if (
        js.state === null ||
        /^(COMPLETED|CANCELLED|FAILED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)/
          .test(js.state)
      ) {
        break;
      }
      if (
        coordinator.t0 === null && coordinator.abortReason === null &&
        Date.now() - submitted > args.agentTimeoutMs
      ) {
        const silent = (jobHosts.length ? jobHosts : [])
          .filter((h) => !coordinator.hellos.has(h));
        coordinator.abort(
          `${
            silent.length ? silent.join(", ") : "some nodes"
          } did not report within ${
            Math.round(args.agentTimeoutMs / 1000)
          } s (job ${jobId} ${js.state}); the project (${ROOT}) and deno (${Deno.execPath()}) must be at the same path on every node${
            tail(outputFile) ? `; job output: ${tail(outputFile)}` : ""
          }`,
        );
        await sleep(3000);
        await slurm(target, "scancel", [jobId]);
      }
      if (coordinator.t0 !== null) {
        const now = Date.now();
        for (const [h, at] of coordinator.lastHeard) {
          if (
            !coordinator.done.has(h) && now - at > 5000 && !silentLogged.has(h)
          ) {
            silentLogged.add(h);
            log(
              `${h} has not reported for ${((now - at) / 1000).toFixed(0)} s`,
            );
          }
        }
        const live = [...coordinator.hellos.keys()].filter((h) =>
          !silentLogged.has(h)
        );
        if (live.every((h) => coordinator.done.has(h)) && silentLogged.size) {
          allDoneAt ??= now;
          // Slurm ends the step once it declares the silent node down; do not wait forever.
          if (now - allDoneAt > 60000) {
            log(`the silent nodes did not come back: cancelling job ${jobId}`);
            await slurm(target, "scancel", [jobId]);
            allDoneAt = Infinity;
          }
        }
      }
      await sleep(300);
    }
  } finally {
    coordinator.close();
  }
  if (!cancelled) {
    // Cancelled by someone else (scancel) while squeue showed it completing?
    const show = await slurm(target, "scontrol", ["show", "job", jobId, "-o"]);
    if (/JobState=CANCELLED/.test(show.stdout)) {
      cancelled = true;
      log(
        `job ${jobId} was cancelled (scancel): Slurm reaped every process on every node`,
      );
    }
  }

  // Outcome per host.
  const hosts: Record<string, HostOutcome> = {};
  const names = jobHosts.length ? jobHosts : [...coordinator.hellos.keys()];
  for (const [i, h] of names.entries()) {
    const hello = coordinator.hellos.get(h);
    const rank = hello?.rank ?? i;
    if (coordinator.done.has(h)) {
      hosts[h] = {
        rank,
        state: coordinator.done.get(h)!.status === "complete"
          ? "finished"
          : "interrupted",
        reason: null,
      };
    } else if (coordinator.abortReason !== null && coordinator.t0 === null) {
      hosts[h] = {
        rank,
        state: "refused",
        reason: hello && !hello.preflight.ok
          ? hello.preflight.error
          : coordinator.abortReason,
      };
    } else if (cancelled) {
      hosts[h] = { rank, state: "interrupted", reason: "job cancelled" };
    } else {
      hosts[h] = {
        rank,
        state: "lost",
        reason: await lostReason(
          target,
          h,
          coordinator.lastHeard.get(h) ?? null,
          coordinator.t0,
          outputFile,
        ),
      };
    }
  }
  spec.hosts = hosts;
  if (coordinator.t0 === null) {
    spec.state = cancelled ? "cancelled" : "refused";
    spec.error = coordinator.abortReason ??
      `job ${jobId} ended before every node was ready${
        tail(outputFile) ? ` (job output: ${tail(outputFile)})` : ""
      }`;
    writeStormSpec(dir, spec);
    if (cancelled) return { dir, spec, merged: null, code: 130 };
    throw new StormError(
      `Cannot start the storm (refused before T_0, nothing was started): ${spec.error}`,
    );
  }
  writeStormSpec(dir, spec); // the merge reads why a host was lost from here
  const merged = await mergeStorm(dir);
  spec.state = cancelled
    ? "cancelled"
    : merged.status === "complete"
    ? "finished"
    : "partial";
  writeStormSpec(dir, spec);
  return {
    dir,
    spec,
    merged,
    code: cancelled ? 130 : merged.status === "complete" ? 0 : 1,
  };
}
