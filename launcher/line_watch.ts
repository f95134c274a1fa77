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
  /**
   * 0-based index in the output stream of the byte that completed the ready
   * match (its last byte), or null before the match.
   */
  readyByte: number | null = null;
  /** Marks seen so far: name → true. */
  readonly seen: Set<string> = new Set();
  #ready: RegExp | null;
  #marks: [string, RegExp][];
  #line = "";
  /** Stream byte offset where the current line began. */
  #lineStart = 0;
  /** Raw text of the current line (with `\r`), to map match ends to bytes. */
  #raw = "";
  #enc = new TextEncoder();
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
    const chunkStart = this.bytes;
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
    let consumed = chunkStart; // stream bytes before text[start]
    while (true) {
      const nl = text.indexOf("\n", start);
      const piece = nl < 0 ? text.slice(start) : text.slice(start, nl);
      this.#line += piece.replaceAll("\r", "");
      if (!this.matched && this.#ready) this.#raw += piece;
      if (this.#line.length > MAX_LINE_CHARS) {
        const cut = this.#line.length - MAX_LINE_CHARS;
        this.#line = this.#line.slice(cut);
        this.#raw = "";
        this.#lineStart = -1; // offsets unknown for this line
      }
      this.#match(event);
      if (nl < 0) break;
      consumed += this.#enc.encode(piece).length + 1;
      this.#line = "";
      this.#raw = "";
      this.#lineStart = consumed;
      start = nl + 1;
    }
    return event;
  }

  #match(event: WatchEvent): void {
    if (this.#line === "") return;
    if (!this.matched && this.#ready) {
      const m = this.#ready.exec(this.#line);
      if (m) {
        this.matched = true;
        event.ready = true;
        this.readyByte = this.#byteOfLineChar(m.index + m[0].length - 1);
      }
    }
    for (const [name, re] of this.#marks) {
      if (!this.seen.has(name) && re.test(this.#line)) {
        this.seen.add(name);
        event.marks.push(name);
      }
    }
  }

  /** Stream byte index of the last byte of `#line[c]`, or null. */
  #byteOfLineChar(c: number): number | null {
    if (this.#lineStart < 0 || c < 0) return null;
    // Walk the raw line (with \r) to the c-th kept character.
    let kept = 0, i = 0;
    for (; i < this.#raw.length; i++) {
      if (this.#raw[i] === "\r") continue;
      if (kept === c) break;
      kept++;
    }
    if (i >= this.#raw.length) return null;
    const ch = this.#raw.codePointAt(i)!;
    const width = ch > 0xffff ? 2 : 1;
    return this.#lineStart +
      this.#enc.encode(this.#raw.slice(0, i + width)).length - 1;
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

// A regex character that means something; after a backslash, itself.
const SPECIAL = "\\^$.|?*+()[]{}/-";

/**
 * The text a regex matches when it is a plain literal of printable ASCII
 * (its special characters escaped, no flags), else null. Matching such a
 * regex against the current line is a substring search, which the spawn
 * helper does on the bytes (fork_at_ts.c, `watch()`), as {@link LineWatch}
 * does on the decoded line.
 *
 * @example
 * ```ts
 * import { literalOf } from "./line_watch.ts";
 * console.log(literalOf(/Hello, World/), literalOf(/\+--> Running \[/)); // "Hello, World" "+--> Running ["
 * console.log(literalOf(/en1: assigned [0-9]+\./), literalOf(/hello/i)); // null null
 * ```
 */
export function literalOf(re: RegExp): string | null {
  if (re.flags !== "") return null;
  const src = re.source;
  let out = "";
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    const code = c.charCodeAt(0);
    if (code < 0x20 || code > 0x7e) return null;
    if (c === "\\") {
      const next = src[i + 1];
      if (next === undefined || !SPECIAL.includes(next)) return null;
      out += next;
      i++;
    } else if (SPECIAL.includes(c) && c !== "/" && c !== "-") {
      return null;
    } else out += c;
  }
  return out === "" ? null : out;
}
