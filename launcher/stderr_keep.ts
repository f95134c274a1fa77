/**
 * An instance's stderr, bounded: its first and its last 2 KiB, and the
 * error line of the `error` column.
 *
 * @module
 */

/** Bytes of stderr kept from its start and from its end. */
const STDERR_KEEP = 2048;

/** Longest line kept in the `error` column. */
const ERROR_LINE_MAX = 240;

/**
 * An instance's stderr, bounded: its first and its last 2 KiB (the line
 * naming the problem usually comes first, the last one often ends a
 * multi-line message).
 *
 * @example
 * ```ts
 * import { StderrKeep } from "./stderr_keep.ts";
 * const s = new StderrKeep();
 * s.push(new TextEncoder().encode("x".repeat(5000)));
 * console.log(s.text().length); // 4099: 2 KiB, "\n…\n", 2 KiB
 * ```
 */
export class StderrKeep {
  #dec = new TextDecoder();
  #head = "";
  #tail = "";
  #cut = false;

  /** Add bytes as they arrive. */
  push(chunk: Uint8Array): void {
    let text = this.#dec.decode(chunk, { stream: true });
    if (this.#head.length < STDERR_KEEP) {
      const room = STDERR_KEEP - this.#head.length;
      this.#head += text.slice(0, room);
      text = text.slice(room);
    }
    if (text === "") return;
    this.#tail += text;
    if (this.#tail.length > STDERR_KEEP) {
      this.#tail = this.#tail.slice(-STDERR_KEEP);
      this.#cut = true;
    }
  }

  /** Everything kept (head, `…` where bytes were dropped, tail). */
  text(): string {
    return this.#head + (this.#cut ? "\n…\n" : "") + this.#tail;
  }

  /**
   * The error line: the first line that is not a warning (else the first)
   * and, when different, ` … ` and the last line; each line cut to 240
   * characters. Null when nothing was printed.
   *
   * @example
   * ```ts
   * import { StderrKeep } from "./stderr_keep.ts";
   * const s = new StderrKeep();
   * s.push(new TextEncoder().encode("qemu: -m 50X: bad size\nOptional suffix…\nand exabytes, respectively.\n"));
   * console.log(s.errorLine()); // "qemu: -m 50X: bad size … and exabytes, respectively."
   * ```
   */
  errorLine(): string | null {
    const lines = this.text().split(/\r?\n/).map((l) => l.trim()).filter((l) =>
      l !== "" && l !== "…"
    );
    if (lines.length === 0) return null;
    const cut = (l: string) =>
      l.length > ERROR_LINE_MAX ? l.slice(0, ERROR_LINE_MAX - 1) + "…" : l;
    const first = lines.find((l) => !/\bwarning\b/i.test(l)) ?? lines[0];
    const last = lines[lines.length - 1];
    return first === last ? cut(first) : `${cut(first)} … ${cut(last)}`;
  }
}
