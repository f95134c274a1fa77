/**
 * Fork at T_s, the paper's way, from a small C helper (fork_at_ts.c): the
 * launcher sends it the whole plan (argv, environment and deadline of each
 * instance) before T_0, and T_0 itself at T_0; at each deadline the helper
 * takes T_s and starts a thread that forks and execs the instance
 * (Algorithm 1), and reports its pid, T_s and, later, its exit. Each
 * instance writes its stdout and stderr to pipes of its own, as in the C
 * harness; its thread relays them to two Unix sockets connected to the
 * launcher before T_0, so the launcher reads the guest's output and takes
 * T_e as in the other modes.
 *
 * Why a helper: Deno's spawn call costs milliseconds per instance, so the
 * launcher pre-forked instances and released them together (prestart.ts);
 * on this host that alone made the plain C harness ~1.5× slower than
 * forking at T_s (`deno run -A bench/prestart_ab.ts 64 4`: 1,854 ms against
 * 1,258 ms median boot). The helper joins the run's cgroup before T_0, so
 * every instance is charged there from its first page.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { monotonicMs } from "./clock.ts";
import { ensureCBinary } from "./c_build.ts";
import { ownerEnv } from "./reaper.ts";
import {
  type ExitStatus,
  type Proc,
  type TimedChunk,
  treeKiller,
} from "./runner.ts";
import { prestartBudget, RELEASE_LEAD_MS } from "./prestart.ts";
import type { InstanceState } from "./instance.ts";

const SOURCE = fileURLToPath(new URL("./fork_at_ts.c", import.meta.url));

/**
 * Build the spawn helper when its binary is missing; returns its path.
 * `source`: another version of `fork_at_ts.c` (a benchmark's A/B), built
 * the same way.
 */
export function ensureForkHelper(
  buildDir?: string,
  source: string = SOURCE,
): Promise<string> {
  return ensureCBinary(source, {
    what: "the spawn helper",
    buildDir,
    flags: ["-pthread"],
  });
}

/** What `runForkAtTs` asks of the launcher. */
export interface ForkHooks<S extends InstanceState> {
  /** The command and extra environment of instance `i`. */
  plan(i: number): { argv: string[]; env?: Record<string, string> };
  /** The helper runs, before T_0 (join it to the run's cgroup here). */
  onHelper?(pid: number): void;
  /** T_0 is taken, absolute on the monotonic clock. */
  setT0(t0: number): void;
  /** Instance `s` was forked at `t_s` (ms after T_0) as `proc`. */
  onStarted(s: S, proc: Proc, t_s: number): void;
  /** Instance `s` could not be forked (after T_0, at its schedule). */
  onFailed(s: S, error: unknown): void;
  /** Whether the batch was interrupted. */
  interrupted(): boolean;
  /**
   * The helper saw instance `s`'s ready line (`options.ready`) and read
   * what the launcher reads at T_e (and killed it with `ready.kill`).
   */
  onReadyHere?(s: S, r: ReadyHere): void;
}

/**
 * The ready line as the helper watches it: each instance's thread searches
 * its stdout for `needle` as it reads it (as `LineWatch` would: the
 * current line, `\r` dropped) and, at the read that completes it, reads
 * VmHWM, the instance's CPU and (every `pssStep`-th index) Pss and private
 * memory, then SIGKILLs its process group when `kill` (each instance leads
 * one; a descendant that left it is the batch tag's, `killTagged()`, when
 * the batch ends). The launcher's main
 * thread did this at T_e, behind every other instance's output: 13% of its
 * CPU in a 256-storm (perf), and the kill waited for its event loop.
 */
export interface HelperReady {
  /** The literal the current output line must contain (`literalOf()`). */
  needle: string;
  /** SIGKILL the instance's process group right after the reads (kill-after-ready, no grace). */
  kill: boolean;
  /** Read Pss/USS for every pssStep-th instance by index (Infinity or 0: none). */
  pssStep: number;
}

/** What the helper read at an instance's ready line. */
export interface ReadyHere {
  /** T_e: when the read that completed the ready line returned, ms after T_0. */
  t: number;
  /** VmHWM, KiB (null: not read). */
  rssPeakKib: number | null;
  /** CPU of the instance so far, ms (null: not read). */
  cpuMs: number | null;
  /** Pss, KiB (null: not read). */
  pssKib: number | null;
  /** Private_Clean + Private_Dirty, KiB (null: not read). */
  ussKib: number | null;
  /** The helper killed it (`HelperReady.kill`). */
  killed: boolean;
}

/** A running helper: its warning, and `close()` once every instance is over. */
export interface ForkSession {
  /** Why the helper ran without real-time priority, or null. */
  releaseWarning: string | null;
  /**
   * End the helper: whatever it forked and is still alive is killed, every
   * exit reported; resolves when it is gone.
   */
  close(): Promise<void>;
  /**
   * The helper's own CPU over its life, ms (every thread; the instances are
   * not in it), known once `close()` has resolved; null before, or when the
   * helper died without saying.
   */
  cpuMs(): number | null;
}

const enc = new TextEncoder();

/** The plan as the helper reads it: NUL-separated tokens. */
function planBytes(
  entries: {
    index: number;
    deadlineMs: number;
    argv: string[];
    env: string[];
  }[],
  ready: HelperReady | null,
): Uint8Array {
  const t: string[] = [];
  if (ready) {
    const step = Number.isFinite(ready.pssStep) ? ready.pssStep : 0;
    t.push("W", ready.needle, ready.kill ? "1" : "0", String(step));
  }
  t.push("N", String(entries.length));
  for (const e of entries) {
    t.push(
      String(e.index),
      String(Math.round(e.deadlineMs * 1e6)),
      String(e.argv.length),
      String(e.env.length),
      ...e.argv,
      ...e.env,
    );
  }
  for (const s of t) {
    if (s.includes("\0")) {
      throw new Error(
        `Cannot fork ${
          JSON.stringify(s)
        }: an argument or environment value contains a NUL byte`,
      );
    }
  }
  return enc.encode(t.join("\0") + "\0");
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(buf.subarray(got));
    if (r === null) throw new Error("the spawn helper closed a socket early");
    got += r;
  }
  return buf;
}

/** A frame's header on an instance's socket: int64 t_ns, int32 length, 0. */
const FRAME_HEAD = 16;

/**
 * What the helper relays from one of an instance's pipes: each read it made,
 * with the time the read returned (`at`, ms on the monotonic clock; the
 * launcher takes T_e from it, as the C harness does). Read with
 * `conn.read()`: without the byte stream machinery of `conn.readable`
 * (pull-into descriptors and promises on every chunk), the launcher's
 * largest cost per instance in a storm after the PSS read (README, "How it
 * measures").
 */
async function* connChunks(conn: Deno.Conn): AsyncGenerator<TimedChunk> {
  // Small at first, grown when a read fills it: two 64 KiB buffers per
  // instance were 32 MiB zeroed for a 256-storm, its page faults and memset
  // ~10% of the main thread's CPU (perf), for guests that write a few
  // hundred bytes and an stderr that stays empty.
  let buf = new Uint8Array(FRAME_HEAD + 1024);
  let pending = new Uint8Array(0);
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      return; // closed under us: the stream ends
    }
    if (n === null) return;
    let data = buf.subarray(0, n);
    if (n === buf.length && buf.length < FRAME_HEAD + 65536) {
      buf = new Uint8Array(Math.min(buf.length * 4, FRAME_HEAD + 65536));
    }
    if (pending.length) {
      const joined = new Uint8Array(pending.length + n);
      joined.set(pending);
      joined.set(data, pending.length);
      data = joined;
    }
    let off = 0;
    while (data.length - off >= FRAME_HEAD) {
      const head = new DataView(data.buffer, data.byteOffset + off, FRAME_HEAD);
      const len = head.getInt32(8, true);
      if (data.length - off < FRAME_HEAD + len) break;
      yield {
        bytes: data.slice(off + FRAME_HEAD, off + FRAME_HEAD + len),
        at: Number(head.getBigInt64(0, true)) / 1e6,
      };
      off += FRAME_HEAD + len;
    }
    pending = data.slice(off);
  }
}

/** The bytes of `chunks`, as a stream. */
function bytesOf(
  chunks: AsyncIterable<TimedChunk>,
): ReadableStream<Uint8Array> {
  return ReadableStream.from((async function* () {
    for await (const c of chunks) yield c.bytes;
  })());
}

/**
 * The helper's events, line by line, from its events socket. Read with
 * `conn.read()` and a streaming TextDecoder: from a pipe (Deno's
 * ReadableStream, then a TextDecoderStream) the two lines per instance (S
 * and X) cost the stream machinery's promises on every chunk, ~5% of the
 * launcher's main-thread CPU in a 256-storm (perf).
 */
async function* lines(conn: Deno.Conn): AsyncGenerator<string> {
  let rest = "";
  const dec = new TextDecoder();
  const buf = new Uint8Array(65536);
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      break; // closed under us
    }
    if (n === null) break;
    rest += dec.decode(buf.subarray(0, n), { stream: true });
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
  if (rest) yield rest;
}

/**
 * Start the helper, hand it the plan, take T_0 and let it fork every
 * instance at its schedule (moved by {@link RELEASE_LEAD_MS}, the time T_0
 * takes to reach it); resolves once it has forked them all (or stopped,
 * interrupted). Instances over the open-files budget are failed at T_0.
 * Call `close()` on the result when every instance has exited.
 *
 * @example
 * ```ts
 * import { runForkAtTs } from "./fork_at_ts.ts";
 * import { newInstance } from "./instance.ts";
 * const s = newInstance(0, { scheduled_ms: null });
 * let code: number | null = null;
 * const session = await runForkAtTs([s], {
 *   plan: () => ({ argv: ["/bin/true"] }),
 *   setT0: () => {},
 *   onStarted: (_s, p) => void p.status.then((st) => (code = st.code)),
 *   onFailed: () => {},
 *   interrupted: () => false,
 * });
 * await session.close();
 * console.log(code); // 0
 * ```
 */
export async function runForkAtTs<S extends InstanceState>(
  insts: S[],
  hooks: ForkHooks<S>,
  options: {
    signal?: AbortSignal;
    t0At?: () => Promise<number>;
    /** Environment of the helper, and so of every instance. */
    env?: Record<string, string>;
    /** The helper's binary, when the caller has built it already. */
    binary?: string;
    /** Watch the ready line in the helper (see {@link HelperReady}). */
    ready?: HelperReady | null;
  } = {},
): Promise<ForkSession> {
  const bin = options.binary ?? await ensureForkHelper();
  const budget = prestartBudget(false);
  const planned = insts.slice(0, Math.max(0, budget.instances));
  const overBudget = insts.slice(planned.length);
  const dir = await Deno.makeTempDir({ prefix: "bootstorm-fork-" });
  const path = `${dir}/s`;
  const listener = Deno.listen({ transport: "unix", path });
  const helper = new Deno.Command(bin, {
    args: [path],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
    env: { ...ownerEnv(), ...options.env },
  }).spawn();
  const stderrText = new Response(helper.stderr).text();
  let exited = false;
  const helperStatus = helper.status.then((s) => {
    exited = true;
    return s;
  });
  const writer = helper.stdin.getWriter();
  const byIndex = new Map(planned.map((s) => [s.instance, s]));
  const conns = new Map<number, [Deno.Conn | null, Deno.Conn | null]>();
  const statusOf = new Map<number, (st: ExitStatus) => void>();
  // Its events socket: the first connection, made before it reads the plan.
  let eventsConn: Deno.Conn | null = null;
  const events = (async () => {
    const c = await listener.accept();
    eventsConn = c;
    const h = new Int32Array((await readExactly(c, 8)).buffer);
    if (h[0] !== -1) throw new Error("its first connection was not its events");
    return c;
  })();
  events.catch(() => {});
  const out = (async function* () {
    const c = await Promise.race([events, helperStatus.then(() => null)]);
    if (c) yield* lines(c);
  })();
  const failHelper = async (what: string): Promise<never> => {
    const st = await helperStatus;
    const err = (await stderrText).trim();
    throw new Error(
      `Cannot fork at T_s: the spawn helper ${what} (exit ${st.code}${
        err ? `: ${err}` : ""
      })`,
    );
  };
  const next = async (what: string): Promise<string> => {
    const r = await out.next();
    if (r.done) return await failHelper(what);
    return r.value;
  };
  /** Close instance `i`'s two sockets (an instance not forked: F, or Q). */
  const closePair = (i: number) => {
    for (const c of conns.get(i) ?? []) {
      try {
        c?.close();
      } catch {
        // closed
      }
    }
    conns.delete(i);
  };
  const closeAll = () => {
    for (const i of [...conns.keys()]) closePair(i);
  };

  let reader: Promise<void> = Promise.resolve();
  let helperCpuMs: number | null = null;
  const cpuMs = () => helperCpuMs;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await writer.close();
    } catch {
      // the helper is gone
    }
    await helperStatus;
    await stderrText.catch(() => "");
    await reader;
    closeAll();
    try {
      (eventsConn as Deno.Conn | null)?.close();
    } catch {
      // closed
    }
    listener.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    for (const s of planned) {
      if (s.scheduled_ms !== null) s.scheduled_ms += RELEASE_LEAD_MS;
    }
    await writer.write(planBytes(
      planned.map((s) => {
        const p = hooks.plan(s.instance);
        return {
          index: s.instance,
          // Back-to-back: every deadline is the lead, forked in order.
          deadlineMs: s.scheduled_ms ?? RELEASE_LEAD_MS,
          argv: p.argv,
          env: Object.entries(p.env ?? {}).map(([k, v]) => `${k}=${v}`),
        };
      }),
      options.ready ?? null,
    ));
    const ready = await next("exited before reading the plan");
    const releaseWarning = ready === "R ok" ? null : ready.slice(2);
    const accepting = (async () => {
      for (let k = 0; k < 2 * planned.length; k++) {
        const c = await listener.accept();
        const h = new Int32Array((await readExactly(c, 8)).buffer);
        const pair = conns.get(h[0]) ?? [null, null];
        pair[h[1] === 1 ? 0 : 1] = c;
        conns.set(h[0], pair);
      }
    })();
    const connected = await Promise.race([
      next("exited before connecting its sockets"),
      helperStatus.then(() => failHelper("exited while connecting")),
    ]);
    if (connected !== "C") {
      throw new Error(
        `Cannot fork at T_s: the spawn helper said "${connected}"`,
      );
    }
    await accepting;
    hooks.onHelper?.(helper.pid);
    if (hooks.interrupted()) {
      await writer.write(enc.encode("Q\0"));
      hooks.setT0(monotonicMs());
      return { releaseWarning, close, cpuMs };
    }
    const t0 = options.t0At ? await options.t0At() : monotonicMs();
    await writer.write(enc.encode(`G\0${Math.round(t0 * 1e6)}\0`));
    hooks.setT0(t0);
    for (const s of overBudget) hooks.onFailed(s, new Error(budget.message));
    const stop = () => void writer.write(enc.encode("Q\0")).catch(() => {});
    options.signal?.addEventListener("abort", stop, { once: true });
    if (hooks.interrupted()) stop();
    let doneForking!: () => void;
    const forked = new Promise<void>((r) => (doneForking = r));
    reader = (async () => {
      for await (const line of out) {
        const [kind, a, b, c] = line.split(" ");
        const s = byIndex.get(Number(a));
        if (kind === "E" && s) {
          const f = line.split(" ").map(Number);
          const known = (x: number) => (x < 0 ? null : x);
          hooks.onReadyHere?.(s, {
            t: f[2] / 1e6 - t0,
            rssPeakKib: known(f[3]),
            cpuMs: f[4] < 0 ? null : f[4] / 1e6,
            pssKib: known(f[5]),
            ussKib: known(f[6]),
            killed: options.ready?.kill === true,
          });
        } else if (kind === "D") doneForking();
        else if (kind === "U") helperCpuMs = Number(a) / 1e6;
        else if (kind === "S" && s) {
          const pid = Number(b);
          const [o, e] = conns.get(s.instance) ?? [null, null];
          conns.delete(s.instance);
          let gone = false;
          const status = new Promise<ExitStatus>((r) =>
            statusOf.set(s.instance, (st) => {
              gone = true;
              r(st);
            })
          );
          const kill = (sig: Deno.Signal) => {
            if (gone) return;
            try {
              Deno.kill(pid, sig);
            } catch {
              // gone
            }
          };
          hooks.onStarted(s, {
            pid,
            // Made only when asked for: the launcher reads `chunks`.
            get stdout() {
              return bytesOf(connChunks(o!));
            },
            get stderr() {
              return bytesOf(connChunks(e!));
            },
            chunks: (which) => connChunks(which === "stdout" ? o! : e!),
            status,
            kill,
            killTree: treeKiller(pid, { kill, gone: () => gone }),
          }, Number(c) / 1e6 - t0);
        } else if (kind === "F" && s) {
          closePair(s.instance);
          hooks.onFailed(s, new Error(line.slice(line.indexOf(" ", 2) + 1)));
        } else if (kind === "X" && s) {
          const code = Number(b);
          statusOf.get(s.instance)?.(
            code < 0 ? { code: null, signal: c } : { code, signal: null },
          );
          statusOf.delete(s.instance);
        }
      }
      // The helper is gone: its children died with it (their death signal).
      for (const r of statusOf.values()) r({ code: null, signal: "SIGKILL" });
      statusOf.clear();
      doneForking();
    })();
    await forked;
    options.signal?.removeEventListener("abort", stop);
    return { releaseWarning, close, cpuMs };
  } catch (e) {
    if (!exited) helper.kill("SIGKILL");
    await close();
    throw e;
  }
}
