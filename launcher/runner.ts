/**
 * The process runner: the one small interface between the launcher and the
 * operating system's processes. `denoRunner` is the real one; tests may pass
 * their own.
 *
 * Every process it starts stays in the launcher's session (a session of its
 * own would also be a scheduler autogroup of its own: see reaper.ts) and
 * carries the launcher's owner cookie in its environment: teardown signals
 * the process and every descendant, and the reaper kills whatever is left
 * when the launcher dies.
 *
 * @module
 */
import { descendants, isOwned, ownerEnv } from "./reaper.ts";

/** How a process ended. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** A running child process. */
export interface Proc {
  /** Process id. */
  pid: number;
  /** Its stdout. */
  stdout: ReadableStream<Uint8Array>;
  /** Its stderr. */
  stderr: ReadableStream<Uint8Array>;
  /**
   * Its stdout or stderr as timed chunks, cheaper to read than the streams
   * (fork mode: the helper's sockets); read one or the other, not both.
   */
  chunks?(which: "stdout" | "stderr"): AsyncIterable<TimedChunk>;
  /** Resolves when it exits. */
  status: Promise<ExitStatus>;
  /** Signal the process alone. */
  kill(signal: Deno.Signal): void;
  /**
   * Signal the process and all its descendants (found through /proc at the
   * call). After the process has exited, signals the descendants seen by
   * earlier calls that are still alive and still carry the launcher's cookie.
   */
  killTree(signal: Deno.Signal): void;
}

/** Output of a process, as read from its pipe. */
export interface TimedChunk {
  bytes: Uint8Array;
  /**
   * When it was read from the process's pipe, ms on the monotonic clock
   * (`monotonicMs`); null when only the reader's own time is known.
   */
  at: number | null;
}

/**
 * What `proc` writes to `which`, chunk by chunk: its timed chunks when it has
 * them (fork mode), else its stream's, timed by the reader (`at` null).
 *
 * @example
 * ```ts
 * import { chunksOf, denoRunner } from "./runner.ts";
 * const p = denoRunner.spawn(["/bin/echo", "hi"]);
 * for await (const c of chunksOf(p, "stdout")) console.log(c.bytes.length, c.at); // 3 null
 * await p.status;
 * ```
 */
export function chunksOf(
  proc: Proc,
  which: "stdout" | "stderr",
): AsyncIterable<TimedChunk> {
  // The timed chunks themselves, not wrapped: this is the hot path.
  return proc.chunks?.(which) ?? untimed(proc[which]);
}

async function* untimed(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<TimedChunk> {
  for await (const bytes of stream) yield { bytes, at: null };
}

/** Options of one spawn. */
export interface SpawnOptions {
  /** Extra environment variables (added to the launcher's). */
  env?: Record<string, string>;
}

/**
 * Spawns processes. `spawn` throws when the process cannot be started.
 * The launcher passes its owner cookie and batch tag in `env` (reaper.ts);
 * {@link denoRunner} adds the owner cookie to every process anyway.
 */
export interface ProcessRunner {
  /** Start `argv` now: stdin /dev/null, stdout and stderr piped. */
  spawn(argv: string[], options?: SpawnOptions): Proc;
  /**
   * Start `argv` stopped, ready to be released by `SIGCONT` to its pid: the
   * fork and the shell are paid ahead of time, the exec of `argv[0]` at
   * release.
   */
  prestart(argv: string[], options?: SpawnOptions): Proc;
}

function wrap(child: Deno.ChildProcess): Proc {
  let gone = false;
  child.status.then(() => (gone = true), () => (gone = true));
  const kill = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  return {
    pid: child.pid,
    stdout: child.stdout,
    stderr: child.stderr,
    status: child.status.then((s) => ({
      code: s.signal ? null : s.code,
      signal: s.signal ?? null,
    })),
    kill,
    killTree: treeKiller(child.pid, { kill, gone: () => gone }),
  };
}

/**
 * `Proc.killTree` of process `pid`: signals its descendants (found through
 * /proc at each call, and those seen by earlier calls while they still carry
 * the launcher's cookie), then the process itself through `kill` unless it
 * is `gone`.
 *
 * @example
 * ```ts
 * import { treeKiller } from "./runner.ts";
 * const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
 * treeKiller(child.pid, { kill: (s) => child.kill(s), gone: () => false })("SIGKILL");
 * console.log((await child.status).signal); // "SIGKILL"
 * ```
 */
export function treeKiller(
  pid: number,
  self: { kill(sig: Deno.Signal): void; gone(): boolean },
): (sig: Deno.Signal) => void {
  // Descendants seen by killTree: once the process is gone they have been
  // handed to init and /proc no longer links them to it.
  const seen = new Set<number>();
  return (sig) => {
    const current = new Set(self.gone() ? [] : descendants(pid));
    for (const d of current) seen.add(d);
    for (const d of [...seen]) {
      // A pid seen earlier, no longer in the tree, is signalled only while
      // it is still ours (never a reused pid).
      if (!current.has(d) && !isOwned(d)) {
        seen.delete(d);
        continue;
      }
      try {
        Deno.kill(d, sig);
      } catch {
        seen.delete(d);
      }
    }
    if (!self.gone()) self.kill(sig);
  };
}

/** Shell snippet of a pre-started instance: stop itself, then exec argv. */
export const PRESTART_SCRIPT = 'kill -STOP $$; exec "$@"';

/**
 * The real runner, on `Deno.Command`.
 *
 * @example
 * ```ts
 * import { denoRunner } from "./runner.ts";
 * const p = denoRunner.spawn(["/bin/true"]);
 * await p.stdout.cancel();
 * await p.stderr.cancel();
 * console.log((await p.status).code); // 0
 * ```
 */
export const denoRunner: ProcessRunner = {
  spawn(argv, options) {
    return wrap(
      new Deno.Command(argv[0], {
        args: argv.slice(1),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { ...ownerEnv(), ...options?.env },
      }).spawn(),
    );
  },
  prestart(argv, options) {
    return wrap(
      new Deno.Command("/bin/sh", {
        args: ["-c", PRESTART_SCRIPT, "bootstorm-starter", ...argv],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { ...ownerEnv(), ...options?.env },
      }).spawn(),
    );
  },
};

/** Whether `pid` is stopped (state `T` in /proc/<pid>/stat). */
export function isStopped(pid: number): boolean {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3) === "T";
  } catch {
    return false;
  }
}

/** VmHWM of a process in KiB, or null when it cannot be read. */
export function readPeakRssKib(pid: number): number | null {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(s);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Resolve a command name against PATH (or check a path); null when absent.
 *
 * @example
 * ```ts
 * import { which } from "./runner.ts";
 * console.log(which("sh") !== null); // true
 * ```
 */
export function which(cmd: string): string | null {
  const candidates = cmd.includes("/")
    ? [cmd]
    : (Deno.env.get("PATH") ?? "").split(":").filter(Boolean).map((d) =>
      `${d}/${cmd}`
    );
  for (const c of candidates) {
    try {
      const st = Deno.statSync(c);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return c;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Anonymous memory of a process in KiB (`Anonymous:` of
 * /proc/<pid>/smaps_rollup): what one more instance costs the host. RSS also
 * counts the binary's and libraries' file pages, which every instance shares
 * through the page cache (and which a lone process even shows as
 * Private_Clean). Null when it cannot be read. Walks the mappings: not for
 * the hot path of a storm.
 */
export function readAnonKib(pid: number): number | null {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
    const m = /Anonymous:\s+(\d+)\s+kB/.exec(s);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * CPU time a process has used so far, ms: the sum over its threads of the
 * first field of /proc/<pid>/task/<tid>/schedstat (time on a CPU, ns), or
 * utime + stime of /proc/<pid>/stat (10 ms ticks) when schedstat is absent.
 * Null when the process is gone. A pre-started instance includes its
 * starter shell's CPU before the exec (about a millisecond).
 *
 * @example
 * ```ts
 * import { readCpuMs } from "./runner.ts";
 * console.log(readCpuMs(Deno.pid)! > 0); // true
 * ```
 */
export function readCpuMs(pid: number): number | null {
  try {
    let ns = 0;
    let n = 0;
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const s = Deno.readTextFileSync(
          `/proc/${pid}/task/${t.name}/schedstat`,
        );
        ns += Number(s.slice(0, s.indexOf(" ")));
        n++;
      } catch {
        // thread gone
      }
    }
    if (n > 0 && Number.isFinite(ns)) return ns / 1e6;
  } catch {
    // no task folder: try stat
  }
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // fields 14 and 15 (utime, stime) are at 11 and 12 after the name
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return null;
  }
}

/**
 * Proportional (PSS) and unique (USS = Private_Clean + Private_Dirty) memory
 * of a process from /proc/<pid>/smaps_rollup, KiB; null when it cannot be
 * read. Walks the process's mappings (tens to hundreds of µs for QEMU).
 *
 * @example
 * ```ts
 * import { readPssUssKib } from "./runner.ts";
 * const m = readPssUssKib(Deno.pid);
 * console.log(m !== null && m.pss > 0 && m.uss > 0); // true
 * ```
 */
export function readPssUssKib(
  pid: number,
): { pss: number; uss: number } | null {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
    const f = (k: string) => {
      const m = new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s);
      return m ? Number(m[1]) : NaN;
    };
    const pss = f("Pss");
    const uss = f("Private_Clean") + f("Private_Dirty");
    return Number.isFinite(pss) && Number.isFinite(uss) ? { pss, uss } : null;
  } catch {
    return null;
  }
}
