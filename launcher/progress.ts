/**
 * Terminal output of a sweep on stderr: a live bar (cells done / total,
 * instances ready / failed in the current cell, ETA) on a terminal, plain
 * lines otherwise.
 *
 * @module
 */
import { patternLabel } from "./pattern.ts";
import type { SweepEvent } from "./sweep.ts";
import type { LaunchEvent } from "./launch.ts";
import { formatDuration } from "./sweep_plan.ts";

const enc = new TextEncoder();

/**
 * The bar text for a moment of the sweep (pure).
 *
 * @example
 * ```ts
 * import { barText } from "./progress.ts";
 * console.log(barText({ done: 1, total: 4, ready: 10, failed: 1, count: 64, etaSeconds: 30 }, 10));
 * // "[##--------] cells 1/4 | ready 10 failed 1 of 64 | ETA 30 s"
 * ```
 */
export function barText(
  s: {
    done: number;
    total: number;
    ready: number;
    failed: number;
    count: number;
    etaSeconds: number;
  },
  width = 20,
): string {
  const filled = Math.round((s.done / Math.max(1, s.total)) * width);
  return `[${"#".repeat(filled)}${
    "-".repeat(width - filled)
  }] cells ${s.done}/${s.total} | ready ${s.ready} failed ${s.failed} of ${s.count} | ETA ${
    formatDuration(Math.max(0, s.etaSeconds))
  }`;
}

/** A progress reporter writing to stderr. */
export function progressReporter(
  options: { tty?: boolean } = {},
): (ev: SweepEvent) => void {
  const tty = options.tty ?? Deno.stderr.isTerminal();
  let done = 0,
    total = 0,
    eta = 0,
    cellStart = 0,
    cellEstimate = 0,
    lastDraw = 0;
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s));
  return (ev) => {
    switch (ev.type) {
      case "note":
        write(`${tty ? "\r\x1b[2K" : ""}bootstorm: ${ev.message}\n`);
        break;
      case "cell-start": {
        total = ev.total;
        done = ev.index - 1;
        eta = ev.etaSeconds;
        cellStart = performance.now();
        cellEstimate = ev.cell.estimate?.seconds ?? 0;
        write(
          `${
            tty ? "\r\x1b[2K" : ""
          }cell ${ev.cell.id} (${ev.index}/${ev.total}): ${ev.cell.image}, ${
            patternLabel(ev.cell.pattern)
          }, N=${ev.cell.count}; ETA ${formatDuration(eta)}\n`,
        );
        break;
      }
      case "instance": {
        const now = performance.now();
        if (!tty || now - lastDraw < 100) return;
        lastDraw = now;
        const elapsed = (now - cellStart) / 1000;
        write(
          `\r\x1b[2K${
            barText({
              done,
              total,
              ready: ev.ready,
              failed: ev.failed,
              count: ev.cell.count,
              etaSeconds: eta - Math.min(elapsed, cellEstimate),
            })
          }`,
        );
        break;
      }
      case "cell-end": {
        const s = ev.summary;
        write(
          `${tty ? "\r\x1b[2K" : ""}  ${ev.cell.id} ${ev.cell.state}${
            s
              ? `: ${s.ready} ready, ${s.failed} failed, median boot ${
                s.boot_median_ms?.toFixed(1) ?? "–"
              } ms`
              : ""
          }${ev.cell.error ? `: ${ev.cell.error}` : ""}\n`,
        );
        break;
      }
    }
  };
}

/**
 * The live line of a single batch on a terminal ("started 3/16, booted or
 * ended 1/16"), redrawn at most every `everyMs` (default 100) and once more
 * by `finish()`. A redraw per event was two terminal writes per instance on
 * the launcher's main thread while the guests boot.
 *
 * @example
 * ```ts
 * import { batchCounter } from "./progress.ts";
 * const out: string[] = [];
 * let t = 0;
 * const c = batchCounter(2, { write: (s) => out.push(s), now: () => t });
 * c.onEvent({ type: "started", instance: 0 });
 * c.onEvent({ type: "started", instance: 1 }); // within 100 ms: not drawn
 * t = 150;
 * c.onEvent({ type: "ended", instance: 0 });
 * c.finish();
 * console.log(out.length, out.at(-1)); // 3 "\r  started 2/2, booted or ended 1/2"
 * ```
 */
export function batchCounter(
  count: number,
  options: {
    write: (s: string) => void;
    now?: () => number;
    everyMs?: number;
  },
): {
  onEvent: (ev: Pick<LaunchEvent, "type" | "instance">) => void;
  finish: () => void;
} {
  const now = options.now ?? (() => performance.now());
  const every = options.everyMs ?? 100;
  let started = 0, ended = 0, last = -Infinity;
  const draw = () =>
    options.write(
      `\r  started ${started}/${count}, booted or ended ${ended}/${count}`,
    );
  return {
    onEvent(ev) {
      if (ev.type === "started") started++;
      else ended++;
      const t = now();
      if (t - last < every) return;
      last = t;
      draw();
    },
    finish: draw,
  };
}
