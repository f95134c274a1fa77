/** Shared test helpers: read a run folder back, fake-guest profiles. */
import { tableFromIPC } from "apache-arrow";
import { join } from "node:path";
import type { Clock, TimerId } from "../launcher/clock.ts";
import { parseProfile, type Profile } from "../launcher/profile.ts";

export const ROOT: string = new URL("..", import.meta.url).pathname;

/** Rows of `<dir>/<name>.arrow` as plain objects. */
export function readArrowRows(
  dir: string,
  name: string,
): Record<string, unknown>[] {
  const t = tableFromIPC(Deno.readFileSync(join(dir, `${name}.arrow`)));
  return t.toArray().map((r) => ({ ...r.toJSON() }));
}

/** Rows of `<dir>/<name>.csv` (minimal parser: no quoted newlines). */
export function readCsvRows(
  dir: string,
  name: string,
): Record<string, string>[] {
  const lines = Deno.readTextFileSync(join(dir, `${name}.csv`)).trimEnd().split(
    "\n",
  );
  const head = lines[0].split(",");
  return lines.slice(1).map((l) => {
    const cells: string[] = [];
    let cur = "", q = false;
    for (let i = 0; i < l.length; i++) {
      const ch = l[i];
      if (q) {
        if (ch === '"' && l[i + 1] === '"') (cur += '"', i++);
        else if (ch === '"') q = false;
        else cur += ch;
      } else if (ch === '"') q = true;
      else if (ch === ",") (cells.push(cur), cur = "");
      else cur += ch;
    }
    cells.push(cur);
    return Object.fromEntries(head.map((h, i) => [h, cells[i]]));
  });
}

/** A fake guest: a shell script as the profile's argv (fault injection). */
export function fakeProfile(
  name: string,
  script: string,
  extra: Record<string, unknown> = {},
): Profile {
  return parseProfile({
    name,
    argv: ["/bin/sh", "-c", script],
    ready: { line: "READY" },
    timeoutMs: 5000,
    ...extra,
  });
}

/**
 * `base`, counting the timers set through it (`sets`) and keeping those not
 * yet fired nor cleared (`pending`): what launch() leaves armed.
 */
export function countingClock(
  base: Clock,
): { clock: Clock; sets: () => number; pending: Set<TimerId> } {
  const pending = new Set<TimerId>();
  let sets = 0;
  const clock: Clock = {
    now: () => base.now(),
    setTimeout: (fn, ms) => {
      sets++;
      const id: TimerId = base.setTimeout(() => {
        pending.delete(id);
        fn();
      }, ms);
      pending.add(id);
      return id;
    },
    clearTimeout: (id) => {
      pending.delete(id);
      base.clearTimeout(id);
    },
  };
  return { clock, sets: () => sets, pending };
}

/** Whether a process id is alive (and not a zombie). */
export function alive(pid: number): boolean {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return s.slice(s.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Median of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
