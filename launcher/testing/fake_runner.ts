/**
 * A fake {@link ProcessRunner} for tests of the launcher: each spawn plays
 * a script on a {@link FakeClock}: stdout and stderr lines at given times
 * after the spawn, an exit at a given time (or never), a spawn that throws.
 * Signals end the process at once (SIGTERM unless the script ignores it).
 * No real process is started; pids are above any real pid (`/proc` reads
 * of them find nothing).
 *
 * @module
 */
import type {
  ExitStatus,
  Proc,
  ProcessRunner,
  SpawnOptions,
} from "../runner.ts";
import type { TimerId } from "../clock.ts";
import type { FakeClock } from "./fake_clock.ts";

/** What one fake process does; times are ms after its spawn. */
export interface FakeScript {
  /** Lines written to stdout (`\n` added), or raw bytes. */
  stdout?: { at: number; line?: string; bytes?: Uint8Array }[];
  /** Lines written to stderr (`\n` added). */
  stderr?: { at: number; line: string }[];
  /** When the process exits by itself; absent or null: never. */
  exitAt?: number | null;
  /** Its exit code (default 0). */
  code?: number;
  /** SIGTERM does nothing (only SIGKILL ends it). */
  ignoreSigterm?: boolean;
  /** The spawn throws an Error with this message. */
  spawnError?: string;
}

/** One spawn the fake runner saw. */
export interface FakeSpawn {
  argv: string[];
  env: Record<string, string>;
  pid: number;
  /** Signals sent to it (kill and killTree), in order. */
  signals: string[];
}

/** A fake runner, and what it saw. */
export interface FakeRunner extends ProcessRunner {
  /** Every spawn so far (failed ones included), in order. */
  readonly spawns: FakeSpawn[];
}

/** First fake pid: above the kernel's largest pid_max (2^22). */
export const FAKE_PID_BASE = 10_000_000;

/**
 * A runner whose `spawn` plays `options.script(k, argv)` for the k-th
 * spawn (0-based) on `clock`. `prestart` throws: pre-started instances
 * are released on the real clock (use `spawnMode: "direct"`).
 *
 * @example
 * ```ts
 * import { FakeClock } from "./fake_clock.ts";
 * import { fakeRunner } from "./fake_runner.ts";
 * const clock = new FakeClock();
 * const runner = fakeRunner(clock, { script: () => ({ stdout: [{ at: 3, line: "hi" }], exitAt: 5, code: 1 }) });
 * const p = runner.spawn(["guest"]);
 * const text = new Response(p.stdout).text();
 * await clock.advance(10);
 * console.log(await text, (await p.status).code); // "hi\n" 1
 * ```
 */
export function fakeRunner(
  clock: FakeClock,
  options: { script: (k: number, argv: string[]) => FakeScript },
): FakeRunner {
  const spawns: FakeSpawn[] = [];
  const enc = new TextEncoder();
  return {
    spawns,
    spawn(argv: string[], spawnOptions?: SpawnOptions): Proc {
      const k = spawns.length;
      const seen: FakeSpawn = {
        argv,
        env: spawnOptions?.env ?? {},
        pid: FAKE_PID_BASE + k,
        signals: [],
      };
      spawns.push(seen);
      const script = options.script(k, argv);
      if (script.spawnError !== undefined) throw new Error(script.spawnError);
      let out!: ReadableStreamDefaultController<Uint8Array>;
      let err!: ReadableStreamDefaultController<Uint8Array>;
      const stdout = new ReadableStream<Uint8Array>({
        start: (c) => (out = c),
      });
      const stderr = new ReadableStream<Uint8Array>({
        start: (c) => (err = c),
      });
      let resolve!: (s: ExitStatus) => void;
      const status = new Promise<ExitStatus>((r) => (resolve = r));
      const timers: TimerId[] = [];
      let gone = false;
      const exit = (s: ExitStatus) => {
        if (gone) return;
        gone = true;
        for (const t of timers) clock.clearTimeout(t);
        out.close();
        err.close();
        resolve(s);
      };
      for (const w of script.stdout ?? []) {
        timers.push(clock.setTimeout(
          () => out.enqueue(w.bytes ?? enc.encode(`${w.line ?? ""}\n`)),
          w.at,
        ));
      }
      for (const w of script.stderr ?? []) {
        timers.push(
          clock.setTimeout(() => err.enqueue(enc.encode(`${w.line}\n`)), w.at),
        );
      }
      if (script.exitAt !== undefined && script.exitAt !== null) {
        timers.push(clock.setTimeout(
          () => exit({ code: script.code ?? 0, signal: null }),
          script.exitAt,
        ));
      }
      const signal = (sig: Deno.Signal) => {
        seen.signals.push(sig);
        if (sig === "SIGKILL" || (sig === "SIGTERM" && !script.ignoreSigterm)) {
          exit({ code: null, signal: sig });
        }
      };
      return {
        pid: seen.pid,
        stdout,
        stderr,
        status,
        kill: signal,
        killTree: signal,
      };
    },
    prestart(): Proc {
      throw new Error(
        'fakeRunner: prestart is not supported (pre-started instances are released on the real clock); use spawnMode "direct"',
      );
    },
  };
}
