/**
 * A fake clock for tests of the launcher: time moves only when the test
 * says so (`advance`) or, under `run`, whenever nothing else is left to do,
 * straight to the next timer; so a boot of 30 fake seconds takes a few real
 * milliseconds and its times are exact.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { Clock, TimerId } from "../clock.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** Let pending callbacks, promise jobs and immediates run. */
async function settle(): Promise<void> {
  for (let k = 0; k < 3; k++) {
    await new Promise<void>((r) => setImmediate(r));
  }
}

/**
 * A {@link Clock} whose time moves only on demand.
 *
 * @example
 * ```ts
 * import { FakeClock } from "./fake_clock.ts";
 * const clock = new FakeClock();
 * const fired: number[] = [];
 * clock.setTimeout(() => fired.push(clock.now()), 30);
 * await clock.advance(50);
 * console.log(fired, clock.now()); // [ 30 ] 50
 * ```
 */
export class FakeClock implements Clock {
  #t: number;
  #seq = 0;
  #timers = new Map<number, Timer>();

  /** A clock at `options.start` ms (default 0). */
  constructor(options: { start?: number } = {}) {
    this.#t = options.start ?? 0;
  }

  /** The fake time, ms. */
  now(): number {
    return this.#t;
  }

  /** Call `fn` when the fake time reaches now + `ms`. */
  setTimeout(fn: () => void, ms: number): TimerId {
    const seq = ++this.#seq;
    this.#timers.set(seq, { at: this.#t + Math.max(0, ms), seq, fn });
    return seq as unknown as TimerId;
  }

  /** Cancel a timer. */
  clearTimeout(id: TimerId): void {
    this.#timers.delete(id as unknown as number);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.size;
  }

  #next(): Timer | null {
    let best: Timer | null = null;
    for (const t of this.#timers.values()) {
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) {
        best = t;
      }
    }
    return best;
  }

  #fire(t: Timer): void {
    this.#timers.delete(t.seq);
    if (t.at > this.#t) this.#t = t.at;
    t.fn();
  }

  /**
   * Move the time forward by `ms`, firing every timer due on the way in
   * order (letting the event loop run after each).
   */
  async advance(ms: number): Promise<void> {
    const target = this.#t + ms;
    await settle();
    for (let t = this.#next(); t && t.at <= target; t = this.#next()) {
      this.#fire(t);
      await settle();
    }
    this.#t = target;
  }

  /**
   * Drive `promise` to its end: whenever the event loop has nothing left
   * to do, jump to the next timer. Rejects when nothing is scheduled and
   * the promise still waits (a deadlock), or past `options.limitMs` of
   * fake time (default one hour).
   */
  async run<T>(
    promise: Promise<T>,
    options: { limitMs?: number } = {},
  ): Promise<T> {
    const limit = this.#t + (options.limitMs ?? 3_600_000);
    let done = false;
    const watched = promise.finally(() => (done = true));
    let idle = 0;
    while (!done) {
      await settle();
      if (done) break;
      const t = this.#next();
      if (t === null) {
        // Real I/O may still be on its way: give it a little real time.
        if (++idle > 200) {
          throw new Error(
            `FakeClock.run(): nothing scheduled at ${this.#t} ms and the promise still waits`,
          );
        }
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      idle = 0;
      if (t.at > limit) {
        throw new Error(`FakeClock.run(): still waiting at ${t.at} ms`);
      }
      this.#fire(t);
    }
    return await watched;
  }
}
