/**
 * The host's steal time: how long the hypervisor ran something else while
 * this VM's CPUs had work (/proc/stat, every CPU summed). On a VM it is the
 * noise the boot times carry from outside: a storm's guests wait that long
 * on top of their own work.
 *
 * @module
 */

/**
 * The steal time in a /proc/stat text, ms (its first line, `cpu`, the 8th
 * number: ticks of USER_HZ 100); null without one.
 *
 * @example
 * ```ts
 * import { parseStealMs } from "./host_steal.ts";
 * console.log(parseStealMs("cpu  4705 356 584 3699 23 23 0 17 0 0\ncpu0 ...")); // 170
 * ```
 */
export function parseStealMs(procStat: string): number | null {
  const end = procStat.indexOf("\n");
  const cpu = procStat.slice(0, end < 0 ? undefined : end).trim().split(/\s+/);
  // cpu user nice system idle iowait irq softirq steal ...
  if (cpu[0] !== "cpu" || cpu.length < 9) return null;
  const ticks = Number(cpu[8]);
  return Number.isFinite(ticks) ? ticks * 10 : null;
}

/**
 * Steal time of every CPU so far, ms (10 ms resolution); null where
 * /proc/stat cannot be read or has no steal field (a kernel before 2.6.11).
 *
 * @example
 * ```ts
 * import { hostStealMs } from "./host_steal.ts";
 * const s = hostStealMs();
 * console.log(s === null || s >= 0); // true
 * ```
 */
export function hostStealMs(): number | null {
  try {
    return parseStealMs(Deno.readTextFileSync("/proc/stat"));
  } catch {
    return null;
  }
}
