/**
 * Watches an instance's stdout as it arrives in pieces: counts bytes, keeps a
 * bounded head for the record, splits lines at `\n` (dropping `\r`) and
 * matches the ready regex (and named marks) against the line being built, so
 * a match is seen the moment its last byte arrives, even when the line is
 * glued to firmware text such as `Booting from ROM..`.
 *
 * @module
 */

/** Bytes of stdout kept in memory per instance for the record. */
export const OUTPUT_HEAD_BYTES = 4096;
/** Longest partial line kept for matching; longer lines keep their tail. */
export const MAX_LINE_CHARS = 8192;

/** What a chunk revealed. */
export interface WatchEvent {
  /** The ready regex matched in this chunk. */
  ready: boolean;
  /** Names of marks first matched in this chunk, in profile order. */
  marks: string[];
}

/**
 * Incremental stdout watcher for one instance.
 *
 * @example
 * ```ts
 * import { LineWatch } from "./line_watch.ts";
 * const w = new LineWatch({ ready: /Hello/ });
 * const enc = new TextEncoder();
 * console.log(w.push(enc.encode("Booting from ROM..Hel")).ready); // false
 * console.log(w.push(enc.encode("lo\n")).ready); // true
 * ```
 */
export class LineWatch {
  /** Total bytes seen. */
  bytes = 0;
  /** Whether the ready regex has matched. */
  matched = false;
  /** Marks seen so far: name → true. */
  readonly seen: Set<string> = new Set();
  #ready: RegExp | null;
  #marks: [string, RegExp][];
  #line = "";
  #head: Uint8Array[] = [];
  #headBytes = 0;
  #decoder = new TextDecoder();

  constructor(
    options: { ready?: RegExp | null; marks?: Record<string, RegExp> } = {},
  ) {
    this.#ready = options.ready ?? null;
    this.#marks = Object.entries(options.marks ?? {});
  }

  /** Feed one chunk; returns what it revealed. */
  push(chunk: Uint8Array): WatchEvent {
    this.bytes += chunk.length;
    if (this.#headBytes < OUTPUT_HEAD_BYTES) {
      const take = chunk.subarray(0, OUTPUT_HEAD_BYTES - this.#headBytes);
      this.#head.push(take.slice());
      this.#headBytes += take.length;
    }
    const event: WatchEvent = { ready: false, marks: [] };
    if (this.#ready === null && this.#marks.length === this.seen.size) {
      return event; // nothing left to match: only count and drain
    }
    const text = this.#decoder.decode(chunk, { stream: true });
    let start = 0;
    while (true) {
      const nl = text.indexOf("\n", start);
      const piece = nl < 0 ? text.slice(start) : text.slice(start, nl);
      this.#line += piece.replaceAll("\r", "");
      if (this.#line.length > MAX_LINE_CHARS) {
        this.#line = this.#line.slice(-MAX_LINE_CHARS);
      }
      this.#match(event);
      if (nl < 0) break;
      this.#line = "";
      start = nl + 1;
    }
    return event;
  }

  #match(event: WatchEvent): void {
    if (this.#line === "") return;
    if (!this.matched && this.#ready && this.#ready.test(this.#line)) {
      this.matched = true;
      event.ready = true;
    }
    for (const [name, re] of this.#marks) {
      if (!this.seen.has(name) && re.test(this.#line)) {
        this.seen.add(name);
        event.marks.push(name);
      }
    }
  }

  /** The first bytes of output, decoded (lossy). */
  head(): string {
    const all = new Uint8Array(this.#headBytes);
    let o = 0;
    for (const c of this.#head) {
      all.set(c, o);
      o += c.length;
    }
    return new TextDecoder().decode(all);
  }
}
