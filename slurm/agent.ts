/**
 * The node agent: one per node, started by `srun` inside the storm's job
 * and kept in the foreground while its guests live (Slurm reaps whatever a
 * task leaves behind when its step ends). It
 *
 * 1. measures its clock offset against the submitting host (round trips);
 * 2. checks its part up front: the profile, the image (same sha256 as the
 *    submitter's), the VMM binary, the memory pre-flight; says hello;
 * 3. once every node passed, pre-starts its instances and says ready;
 * 4. converts the agreed T_0 to its own monotonic clock and lets the
 *    launcher start there (`runBatch(…, { t0At })`);
 * 5. writes its run folder and `agent.json` under `<storm>/nodes/<host>/`
 *    and reports done. SIGTERM (scancel) stops it cleanly.
 *
 * @module
 */
import { join, relative } from "node:path";
import { hostname } from "node:os";
import { monotonicMs } from "../launcher/clock.ts";
import { ensureOpenFiles } from "../launcher/limits.ts";
import { loadProfile, type Profile } from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { sha256File } from "../dataset/checksum.ts";
import { which } from "../launcher/runner.ts";
import { availableKib, knownCost } from "../launcher/sweep.ts";
import {
  type Cell,
  costFromProbe,
  estimateCell,
  type ImageCost,
  preflightCell,
} from "../launcher/sweep_plan.ts";
import {
  type ClockOffset,
  estimateOffset,
  type HostClock,
  hostClock,
} from "./clock_offset.ts";
import { CoordinatorClient } from "./coordinator_client.ts";
import type { Preflight, Reply } from "./protocol.ts";
import { type LocalStart, localStart } from "./start_instant.ts";
import { readStormSpec, type Share, type StormSpec } from "./storm_spec.ts";

/** What a node records in `<storm>/nodes/<host>/agent.json`. */
export interface AgentRecord {
  /** Version of this format. */
  agent_version: 1;
  /** The storm (storm.json's storm_id). */
  storm_id: string;
  /** Slurm node name (SLURMD_NODENAME, else the short host name). */
  host: string;
  /** Slurm task rank (SLURM_PROCID). */
  rank: number;
  /** The operating system's host name. */
  hostname: string;
  /** Slurm's environment of the task (null when unset). */
  slurm: {
    job_id: string | null;
    node_name: string | null;
    procid: string | null;
  };
  /** Kernel boot id (/proc/sys/kernel/random/boot_id): nodes sharing one share a clock. */
  boot_id: string | null;
  /** How far the agent got. */
  state:
    | "hello"
    | "refused"
    | "prestarting"
    | "started"
    | "finished"
    | "interrupted"
    | "failed";
  /** Why it was refused or failed (null otherwise). */
  error: string | null;
  /** This node's part (storm.json's share for its rank). */
  share: Share;
  /** Its pre-flight verdict (null until checked). */
  preflight: Preflight | null;
  /** Its clock offset against the submitter. */
  clock: {
    injected_offset_ms: number;
    /** Measured before the storm: used for T_0. */
    before: ClockOffset | null;
    /** Measured after the storm: drift = after − before. */
    after: ClockOffset | null;
  };
  /** The storm's start as this node saw it (null until the go). */
  t0: {
    /** The storm's T_0, submitter clock, ms since the epoch. */
    storm_ms: number;
    /** This node's start (T_0 + its start offset) on each clock. */
    local: LocalStart;
    /** How long before its start the node knew it, ms (negative: it was late). */
    slack_ms: number;
  } | null;
  /** Run folder, relative to the node folder. */
  run_dir: string | null;
  /** Its run's run_id (null until the run is written). */
  run_id: string | null;
}

/** Options of {@link runAgent}. */
export interface AgentOptions {
  /** The storm folder (shared by every node). */
  storm: string;
  /** The submitter's UDP endpoint. */
  coordinator: { host: string; port: number };
  /** The storm's token (storm.json), carried by every message. */
  token: string;
  /** Stops the agent (SIGTERM, SIGINT). */
  signal?: AbortSignal;
  /** Progress lines (default: stderr, prefixed with the host). */
  log?: (line: string) => void;
}

/** Clock round trips before the storm, and after it. */
const CLOCK_SAMPLES = 40;
const CLOCK_SAMPLES_AFTER = 12;

function bootId(): string | null {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  } catch {
    return null;
  }
}

function writeRecord(dir: string, rec: AgentRecord): void {
  const path = join(dir, "agent.json");
  Deno.writeTextFileSync(path + ".tmp", JSON.stringify(rec, null, 2) + "\n");
  Deno.renameSync(path + ".tmp", path);
}

/** The node's pre-flight: profile, image, VMM binary, memory. */
async function preflight(
  spec: StormSpec,
  share: Share,
  host: string,
): Promise<
  { verdict: Preflight; profile: Profile | null; estimateSeconds: number }
> {
  const base = {
    boot_id: bootId(),
    available_kib: availableKib(),
    estimated_peak_kib: 0,
    count: share.count,
  };
  const fail = (error: string) => ({
    verdict: { ...base, ok: false, error },
    profile: null,
    estimateSeconds: 0,
  });
  let profile: Profile;
  try {
    profile = await loadProfile(spec.profile.path);
  } catch (e) {
    return fail(
      `cannot read the profile ${spec.profile.path} on ${host} (${
        (e as Error).message
      }); it must be on a filesystem every node sees, at the same path`,
    );
  }
  if (spec.image) {
    let sha: string;
    try {
      sha = await sha256File(spec.image.path);
    } catch {
      return fail(
        `image not found at ${spec.image.path} on ${host}; the image must be on a filesystem every node sees, at the same path (a shared filesystem), or copied there`,
      );
    }
    if (sha !== spec.image.sha256) {
      return fail(
        `the image at ${spec.image.path} on ${host} is not the submitter's (sha256 ${
          sha.slice(0, 12)
        }… instead of ${
          spec.image.sha256.slice(0, 12)
        }…); every node must boot the same file`,
      );
    }
  }
  const argv0 = profile.argv[0];
  if (which(argv0) === null) {
    return fail(
      `${argv0} not found on ${host}; install it there (${
        argv0.startsWith("qemu-system-x86")
          ? "apt-get install qemu-system-x86"
          : "or fix the profile's argv[0]"
      })`,
    );
  }
  const cell = {
    id: host,
    image: spec.profile.path,
    count: share.count,
    pattern: share.pattern,
    params: spec.params,
    repeat: 0,
  };
  const est = estimateCell(cell, await imageCost(spec, profile, cell), {
    cores: navigator.hardwareConcurrency,
  });
  const pre = preflightCell(cell, est, { availableKib: base.available_kib });
  const verdict = { ...base, estimated_peak_kib: est.peakKib };
  if (!pre.ok && !spec.force) {
    return fail(`${pre.message} (on ${host})`);
  }
  ensureOpenFiles(est.concurrency);
  return {
    verdict: { ...verdict, ok: true, error: null },
    profile,
    estimateSeconds: est.seconds,
  };
}

/**
 * What one more instance costs on this node: the sweep's probe cache when
 * it knows the image, else one boot alone measured now (as the sweep's
 * probe does: anonymous memory × 1.2 per instance, the shared rest once).
 */
async function imageCost(
  spec: StormSpec,
  profile: Profile,
  cell: Cell,
): Promise<ImageCost> {
  for (const image of [spec.profile.name, spec.profile.path]) {
    try {
      const c = await knownCost({ ...cell, image });
      if (c.source === "probe") return c;
    } catch {
      // not a shipped profile name
    }
  }
  const out = Deno.makeTempDirSync({ prefix: "bootstorm-probe-" });
  try {
    // one boot, ended at ready whatever the profile's teardown
    const probe: Profile = { ...profile, teardown: "kill-after-ready" };
    const { result } = await runBatch(probe, {
      count: 1,
      pattern: { kind: "back-to-back" },
      // a guest that never becomes ready must not hold the storm up
      timeoutMs: Math.min(profile.timeoutMs, 10000),
      accel: spec.accel,
      params: spec.params,
      outDir: out,
      sampleIntervalMs: 0,
      readAnonMemory: true,
    });
    const r = result.rows[0] as (typeof result.rows)[0] & {
      anon_kib?: number | null;
    };
    if (r?.outcome === "ready" && r.boot_ms !== null) {
      return costFromProbe({ ...r, boot_ms: r.boot_ms });
    }
  } catch {
    // the storm itself will say what is wrong
  } finally {
    Deno.removeSync(out, { recursive: true });
  }
  return await knownCost(cell);
}

async function poll(
  client: CoordinatorClient,
  body: { t: "hello" | "ready" } & Record<string, unknown>,
  until: (r: Reply) => boolean,
  signal: AbortSignal,
  pushed: () => Reply | null,
): Promise<Reply> {
  while (true) {
    const p = pushed();
    if (p && until(p)) return p;
    // deno-lint-ignore no-explicit-any
    const r = await client.request(body as any, { timeoutMs: 30000 });
    if (until(r)) return r;
    if (signal.aborted) return { t: "abort", id: 0, reason: "stopped" };
    await new Promise((res) => setTimeout(res, 20));
  }
}

/**
 * Run this node's part of the storm; returns the exit code (0 finished, 2
 * refused, 130 interrupted, 1 failed).
 *
 * @example
 * ```ts ignore
 * // runs on a node of the storm's Slurm job (srun), see cli/storm_agent.ts
 * Deno.exit(await runAgent({ storm, coordinator: { host: "vm", port: 40000 }, token }));
 * ```
 */
export async function runAgent(options: AgentOptions): Promise<number> {
  const host = Deno.env.get("SLURMD_NODENAME") ?? hostname().split(".")[0];
  const rank = Number(Deno.env.get("SLURM_PROCID") ?? "0");
  const log = options.log ??
    ((l: string) => console.error(`agent ${host}: ${l}`));
  const ctl = new AbortController();
  options.signal?.addEventListener("abort", () => ctl.abort(), { once: true });
  if (options.signal?.aborted) ctl.abort();
  const client = await CoordinatorClient.open({
    ...options.coordinator,
    token: options.token,
    self: host,
  });
  let pushed: Reply | null = null;
  client.onPush((r) => {
    pushed = r;
    if (r.t === "abort") ctl.abort();
  });
  try {
    let spec: StormSpec;
    try {
      spec = readStormSpec(options.storm);
    } catch (e) {
      const error = `${host} cannot read the storm folder ${options.storm} (${
        (e as Error).message.split(" (")[0]
      }); put --out on a filesystem every node sees`;
      await client.request({
        t: "hello",
        rank,
        preflight: {
          ok: false,
          error,
          boot_id: bootId(),
          available_kib: 0,
          estimated_peak_kib: 0,
          count: 0,
        },
        clock: estimateOffset([{ t1: 0, t2: 0, t4: 0 }]),
      }).catch(() => {});
      log(error);
      return 2;
    }
    const share = spec.shares[rank];
    const clock: HostClock = hostClock(spec.inject_clock_offset_ms[rank] ?? 0);
    const nodeDir = join(options.storm, "nodes", host);
    Deno.mkdirSync(nodeDir, { recursive: true });
    const rec: AgentRecord = {
      agent_version: 1,
      storm_id: spec.storm_id,
      host,
      rank,
      hostname: hostname(),
      slurm: {
        job_id: Deno.env.get("SLURM_JOB_ID") ?? null,
        node_name: Deno.env.get("SLURMD_NODENAME") ?? null,
        procid: Deno.env.get("SLURM_PROCID") ?? null,
      },
      boot_id: bootId(),
      state: "hello",
      error: null,
      share,
      preflight: null,
      clock: {
        injected_offset_ms: clock.injectedMs,
        before: null,
        after: null,
      },
      t0: null,
      run_dir: null,
      run_id: null,
    };
    rec.clock.before = estimateOffset(
      await client.roundTrips(CLOCK_SAMPLES, clock),
    );
    const { verdict, profile, estimateSeconds } = await preflight(
      spec,
      share,
      host,
    );
    rec.preflight = verdict;
    writeRecord(nodeDir, rec);
    log(
      `clock offset ${rec.clock.before.offset_ms.toFixed(3)} ± ${
        rec.clock.before.uncertainty_ms.toFixed(3)
      } ms; pre-flight ${verdict.ok ? "ok" : `refused: ${verdict.error}`}`,
    );
    const hello = await poll(
      client,
      { t: "hello", rank, preflight: verdict, clock: rec.clock.before },
      (r) => r.t !== "wait",
      ctl.signal,
      () => pushed,
    );
    if (hello.t !== "prestart" || !profile) {
      rec.state = ctl.signal.aborted && hello.t !== "abort"
        ? "interrupted"
        : "refused";
      rec.error = hello.t === "abort" ? hello.reason : verdict.error;
      writeRecord(nodeDir, rec);
      return 2;
    }
    rec.state = "prestarting";
    writeRecord(nodeDir, rec);
    let started = 0, ended = 0;
    let beat: ReturnType<typeof setInterval> | null = null;
    // A storm on few cores is slow but not hung: never time out before three
    // times the estimate (nodes sharing a kernel share its cores).
    const timeoutMs = spec.timeout_ms ??
      Math.max(
        profile.timeoutMs,
        Math.ceil(3000 * hello.peers * estimateSeconds),
      );
    const { runDir, record, result } = await runBatch(profile, {
      count: share.count,
      pattern: share.pattern,
      outDir: nodeDir,
      accel: spec.accel,
      params: spec.params,
      timeoutMs,
      graceMs: spec.grace_ms ?? undefined,
      spawnMode: spec.spawn_mode ?? undefined,
      phases: spec.phases,
      signal: ctl.signal,
      extra: {
        multi_host: {
          storm_id: spec.storm_id,
          host,
          rank,
          slurm_job_id: rec.slurm.job_id,
        },
      },
      onEvent: (ev) => {
        if (ev.type === "started") started++;
        else ended++;
      },
      t0At: async () => {
        const go = await poll(
          client,
          { t: "ready" },
          (r) => r.t === "go" || r.t === "abort",
          ctl.signal,
          () => pushed,
        );
        if (go.t !== "go") {
          ctl.abort();
          return monotonicMs();
        }
        const local = localStart(go.t0, {
          offsetMs: rec.clock.before!.offset_ms,
          startOffsetMs: share.start_offset_ms,
          clock,
        });
        rec.t0 = {
          storm_ms: go.t0,
          local,
          slack_ms: local.node_wall_ms - clock.now(),
        };
        rec.state = "started";
        writeRecord(nodeDir, rec);
        beat = setInterval(() => {
          client.request({ t: "beat", started, ended }, { timeoutMs: 2000 })
            .catch(() => {});
        }, 250);
        return local.node_monotonic_ms;
      },
    });
    if (beat !== null) clearInterval(beat);
    rec.run_dir = relative(nodeDir, runDir);
    rec.run_id = record.run_id as string;
    rec.state = result.interrupted ? "interrupted" : "finished";
    try {
      rec.clock.after = estimateOffset(
        await client.roundTrips(CLOCK_SAMPLES_AFTER, clock),
      );
    } catch {
      // the submitter is gone (cancelled): no after-measurement
    }
    writeRecord(nodeDir, rec);
    const ready = result.rows.filter((r) => r.outcome === "ready").length;
    await client.request({
      t: "done",
      status: result.interrupted ? "partial" : "complete",
      run_dir: runDir,
      ready,
      failed: result.rows.length - ready,
    }, { timeoutMs: 3000 }).catch(() => {});
    log(
      `${ready}/${share.count} ready${
        result.interrupted ? " (interrupted)" : ""
      } → ${runDir}`,
    );
    return result.interrupted ? 130 : 0;
  } finally {
    client.close();
  }
}
