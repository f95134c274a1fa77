/**
 * The C memory sampler (`mem_sampler.c`) from the launcher's side: built on
 * demand with gcc into `build/sampler/`, started as a child process that
 * writes samples into a ring in a shared file, drained by the launcher (a
 * few memory loads per sample, no message passing, no JavaScript wake-ups).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SharedFile } from "../shared_file.ts";
import { ensureCBinary } from "../c_build.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SOURCE = fileURLToPath(new URL("./mem_sampler.c", import.meta.url));
const MAGIC = 0x706d736d656d7362n;
const HEADER = 16 * 8;
/** The u64 at u32 index `i` (little-endian halves); null when "none" (all ones). */
const u64At = (u: Uint32Array, i: number): number | null =>
  u[i] === 0xffffffff && u[i + 1] === 0xffffffff
    ? null
    : u[i] + u[i + 1] * 2 ** 32;

/** One sample: when, the run's memory (cgroup), the whole system's. */
export interface MemorySample {
  /** CLOCK_MONOTONIC, ms (the launcher's clock). */
  t_ms: number;
  /** The run's cgroup usage, KiB (null without a cgroup source). */
  run_used_kib: number | null;
  /** MemTotal − MemAvailable, KiB (null on ticks it was not read). */
  used_kib: number | null;
}

/** What the sampler achieved, for the run record. */
export interface CSamplerStats {
  /** Which sampler recorded the memory. */
  source: "c-sampler";
  /** Samples per second asked for (1000 / intervalMs). */
  target_hz: number;
  /**
   * Samples per second achieved between the first and the last sample; in
   * quiet mode, while on the rate (the time spent waiting taken out).
   */
  achieved_hz: number;
  /** Samples taken. */
  samples: number;
  /** Largest interval between two samples, ms. */
  worst_gap_ms: number | null;
  /** CPU the sampler process used, ms, and as a share of one core over its life. */
  cpu_ms: number;
  /** cpu_ms over the time between the first and the last sample (null with fewer than two). */
  cpu_share_of_one_core: number | null;
  /** Whether it got SCHED_FIFO. */
  realtime: boolean;
  /** Whole-system memory read every this many ticks (0: never). */
  meminfo_every: number;
  /** The cgroup usage file read every tick, or null. */
  cgroup: string | null;
  /** Whether it was held on the rate at some point (`holdRate`: while instances booted). */
  held_on_rate?: boolean;
  /** Samples the ring overwrote before the launcher drained them. */
  lost: number;
  /**
   * `rate`: a sample every interval; `quiet`: at the rate while the run's
   * memory moves, asleep on a cgroup v1 memory threshold while it stays
   * within `quiet_step_kib`.
   */
  mode: "rate" | "quiet";
  /** Quiet mode: the step the run's memory must move to wake the sampler, KiB (null in rate mode). */
  quiet_step_kib: number | null;
  /** Why quiet mode was asked for but not used (null when used or not asked). */
  quiet_why_not: string | null;
  /** Quiet waits entered. */
  waits: number;
  /** Waits a memory threshold ended (the rest: a heartbeat saw a move, or the end). */
  woken_by_threshold: number;
  /** Heartbeat samples taken while waiting. */
  heartbeats: number;
  /** Share of the sampler's life spent waiting on a threshold (0 in rate mode). */
  waiting_share: number;
}

/** Options of {@link startCSampler}. */
export interface CSamplerOptions {
  /** Interval, ms (default 0.5). */
  intervalMs?: number;
  /** A cgroup usage file (bytes) to read every tick. */
  cgroupUsageFile?: string | null;
  /** Read /proc/meminfo every this many ticks (default 20: 100 Hz at 0.5 ms; 0 = never). */
  meminfoEvery?: number;
  /** Ask for SCHED_FIFO (default true). */
  realtime?: boolean;
  /**
   * Receives the samples, in batches, every `drainMs` (default 50); while
   * held on the rate (`holdRate(true)`: instances boot) only once the ring
   * is half full, and all of them at the release.
   */
  onSamples: (rows: MemorySample[]) => void;
  /** How often the ring is drained into `onSamples`, ms (default 50). */
  drainMs?: number;
  /** Samples the ring holds (default 2^16: 32 s at 2 kHz). */
  ringSamples?: number;
  /**
   * Quiet mode: sleep on a cgroup v1 memory threshold of this many KiB
   * around the last sample once the run's memory has stayed within it for
   * `quietMs` (needs `cgroupUsageFile` on cgroup v1; otherwise the rate is
   * kept and `quiet_why_not` says why). 0 or absent: rate mode.
   */
  quietStepKib?: number;
  /** How long the memory must stay within the step before a wait, ms (default 20). */
  quietMs?: number;
  /** A sample every this many ms while waiting (default 100). */
  heartbeatMs?: number;
}

/** Why quiet waits cannot be used on this usage file, or null when they can. */
export function quietWhyNot(
  cgroupUsageFile: string | null | undefined,
): string | null {
  if (!cgroupUsageFile) {
    return "no run cgroup: quiet waits need the run's own memory";
  }
  if (!cgroupUsageFile.endsWith("memory.usage_in_bytes")) {
    return "the run cgroup is v2: memory thresholds are a cgroup v1 feature";
  }
  const ctl = join(dirname(cgroupUsageFile), "cgroup.event_control");
  try {
    Deno.statSync(ctl);
    return null;
  } catch {
    return `no ${ctl}: this kernel has no cgroup v1 memory thresholds`;
  }
}

/** A running C sampler. */
export interface CSampler {
  pid: number;
  /**
   * Hold the sampler on the rate (`true`: no quiet waits, a wait in course
   * ends at once) or let it wait again (`false`). The launcher holds it
   * while instances boot: a boot that started while the sampler waited was
   * slower (the VM's vCPUs idle; mem_sampler.c). Held, the ring is drained
   * only once half full; the release drains it at once.
   */
  holdRate(on: boolean): void;
  /** End it, drain what is left and return the stats. */
  stop(): Promise<CSamplerStats>;
}

/** Build the sampler when its binary is missing or older than its source; returns its path. */
export function ensureCSampler(
  buildDir = join(ROOT, "build", "sampler"),
): Promise<string> {
  return ensureCBinary(SOURCE, {
    what: "the memory sampler",
    buildDir,
    flags: ["-pthread"],
  });
}

/**
 * Start the C sampler; `stop()` ends it, drains what is left and returns the
 * stats.
 *
 * @example
 * ```ts
 * import { type MemorySample, startCSampler } from "./c_sampler.ts";
 * // needs gcc (the sampler is built once into build/sampler/)
 * const rows: MemorySample[] = [];
 * const s = await startCSampler({ intervalMs: 1, realtime: false, onSamples: (r) => rows.push(...r) });
 * await new Promise((r) => setTimeout(r, 100));
 * const stats = await s.stop();
 * console.log(stats.samples > 10, rows.length === stats.samples - stats.lost); // true true
 * console.log(rows.some((r) => r.used_kib !== null), rows[0].run_used_kib); // true null: no cgroup given
 * ```
 */
export async function startCSampler(
  options: CSamplerOptions,
): Promise<CSampler> {
  const bin = await ensureCSampler();
  const intervalMs = options.intervalMs ?? 0.5;
  const meminfoEvery = options.meminfoEvery ?? 20;
  // A ring of 2^16 samples: 32 s at 2 kHz between two drains is plenty.
  const cap = options.ringSamples ?? 1 << 16;
  const file = SharedFile.create("memring", HEADER + cap * 4 * 8);
  const quietStep = options.quietStepKib ?? 0;
  const whyNot = quietStep > 0 ? quietWhyNot(options.cgroupUsageFile) : null;
  const quiet = quietStep > 0 && whyNot === null;
  const args = [
    "--out",
    file.path,
    "--interval-us",
    String(Math.round(intervalMs * 1000)),
  ];
  if (options.cgroupUsageFile) args.push("--cgroup", options.cgroupUsageFile);
  if (meminfoEvery > 0) args.push("--meminfo", String(meminfoEvery));
  if (options.realtime ?? true) args.push("--fifo", "10");
  if (quiet) {
    args.push("--quiet", String(Math.round(quietStep * 1024)));
    args.push("--quiet-ms", String(options.quietMs ?? 20));
    args.push("--heartbeat-ms", String(options.heartbeatMs ?? 100));
  }
  // Stays on Deno.Command: the sampler runs during the measurement, beside the launcher's hot path.
  const child = new Deno.Command(bin, {
    args,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Our end of its stdin: closing it (or our death) stops the sampler.
  const stdin = child.stdin.getWriter();
  const started = performance.now();
  const exited: { status: Deno.CommandStatus | null } = { status: null };
  child.status.then((s) => exited.status = s, () => {});
  while (file.u64(0) !== MAGIC) {
    if (exited.status !== null || performance.now() - started > 5000) {
      if (exited.status === null) {
        try {
          child.kill("SIGKILL");
        } catch { /* it exited meanwhile */ }
      }
      await stdin.close().catch(() => {});
      const err = await new Response(child.stderr).text().catch(() => "");
      const how = exited.status;
      file.close();
      throw new Error(
        `Cannot start the memory sampler (${bin}): ${
          err.trim() ||
          (how
            ? `it exited with code ${how.code} before writing its header`
            : "no header after 5 s")
        }. Rebuild it by removing build/sampler/, or use the worker source.`,
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  const capacity = Number(file.u64(24));
  const fields = Number(file.u64(13 * 8));
  let tail = 0;
  let onRate = 0;
  let lost = 0;
  let first: number | null = null;
  let last: number | null = null;
  let worst = 0;
  let copyBuf = new Uint8Array(0);
  let u32 = new Uint32Array(0);
  const drain = () => {
    const head = Number(file.u64(32));
    if (head - tail > capacity) {
      lost += head - tail - capacity;
      tail = head - capacity;
    }
    if (head === tail) return;
    const rows: MemorySample[] = new Array(head - tail);
    // The new entries copied out of the ring at once (one part, or two
    // where they wrap) and read as u32 halves: a BigInt read per field was
    // a third of this drain's CPU in a 256-storm (perf).
    const entry = fields * 8;
    let k = 0;
    while (tail < head) {
      const at = tail % capacity;
      const count = Math.min(head - tail, capacity - at);
      if (copyBuf.length < count * entry) {
        copyBuf = new Uint8Array(count * entry * 2);
        u32 = new Uint32Array(copyBuf.buffer);
      }
      file.copy(HEADER + at * entry, copyBuf.subarray(0, count * entry));
      for (let j = 0; j < count; j++, k++) {
        const w = j * fields * 2; // u32 index of the entry
        const t = u64At(u32, w)! / 1e6;
        // Gaps count on the rate only: a wait is quiet by construction.
        if (u64At(u32, w + 6) === 0) {
          onRate++;
          if (last !== null && t - last > worst) worst = t - last;
        }
        first ??= t;
        last = t;
        const cg = u64At(u32, w + 2);
        rows[k] = {
          t_ms: t,
          run_used_kib: cg === null ? null : cg / 1024,
          used_kib: u64At(u32, w + 4),
        };
      }
      tail += count;
    }
    options.onSamples(rows);
  };
  // While instances boot (held on the rate) the ring is drained only once it
  // is half full (16 s at 2 kHz): the drain is the launcher's main-thread
  // work while guests boot, and its rows are wanted only after the boots.
  // Nor is it looked at every drainMs then: a quarter of the time the ring
  // takes to fill at the rate (8 s at 2 kHz) leaves it half empty still. The
  // 50 ms wake-ups alone, finding nothing to drain, cost the CLI's main
  // thread 19-34 ms of CPU over a 3 s boot, against 8.1-9.2 ms with this
  // check and 6.7-7.7 ms with sampling off (synthetic spin_ms=3000, N = 1,
  // four runs each, two off: processCpuMs() from T_0 to the ready line).
  const drainMs = options.drainMs ?? 50;
  const heldCheckMs = Math.max(drainMs, (capacity / 4) * intervalMs);
  let holding = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(tick, ms);
  };
  const tick = () => {
    if (!holding || Number(file.u64(32)) - tail >= capacity / 2) drain();
    schedule(holding ? heldCheckMs : drainMs);
  };
  schedule(drainMs);
  let held = false;
  return {
    pid: child.pid,
    holdRate(on) {
      if (on) held = true;
      holding = on;
      schedule(on ? heldCheckMs : drainMs);
      if (!on) drain();
      stdin.write(new TextEncoder().encode(on ? "r" : "q")).catch(() => {});
    },
    async stop(): Promise<CSamplerStats> {
      clearTimeout(timer);
      await stdin.close().catch(() => {});
      const status = await Promise.race([
        child.status,
        new Promise<null>((r) => setTimeout(() => r(null), 2000)),
      ]);
      if (status === null) {
        child.kill("SIGKILL");
        await child.status;
      }
      await child.stderr.cancel().catch(() => {});
      drain();
      const cpuMs = Number(file.u64(40)) / 1e6;
      const realtime = file.u64(56) === 1n;
      const samples = Number(file.u64(32));
      const waits = Number(file.u64(9 * 8));
      const woken = Number(file.u64(10 * 8));
      const heartbeats = Number(file.u64(11 * 8));
      const waitedS = Number(file.u64(12 * 8)) / 1e9;
      file.close();
      const span = first !== null && last !== null ? (last - first) / 1000 : 0;
      // The rate achieved while sampling on the rate (all of it in rate mode).
      const rateSpan = span - waitedS;
      return {
        source: "c-sampler",
        target_hz: 1000 / intervalMs,
        achieved_hz: !quiet
          ? (span > 0 ? (samples - 1) / span : 0)
          : rateSpan > 0
          ? Math.max(onRate - 1, 0) / rateSpan
          : 0,
        samples,
        worst_gap_ms: samples > 1 ? worst : null,
        cpu_ms: cpuMs,
        cpu_share_of_one_core: span > 0 ? cpuMs / (span * 1000) : null,
        realtime,
        meminfo_every: meminfoEvery,
        cgroup: options.cgroupUsageFile ?? null,
        lost,
        mode: quiet ? "quiet" : "rate",
        quiet_step_kib: quiet ? quietStep : null,
        quiet_why_not: whyNot,
        waits,
        woken_by_threshold: woken,
        heartbeats,
        waiting_share: span > 0 ? Math.min(waitedS / span, 1) : 0,
        held_on_rate: held,
      };
    },
  };
}
