/**
 * Real-time scheduling for the calling thread (SCHED_FIFO through FFI), so a
 * timing thread is not delayed behind CPU-bound guests. Returns null on
 * success, else the reason it was refused (recorded as a warning).
 *
 * @module
 */

// Opened once, when the module loads: setThreadNice runs at T_0 on the
// thread that reads the guests' output, and a dlopen there took 0.4-1.6 ms.
const libc = (() => {
  try {
    return Deno.dlopen("libc.so.6", {
      sched_setscheduler: {
        parameters: ["i32", "i32", "buffer"],
        result: "i32",
      },
      sched_get_priority_min: { parameters: ["i32"], result: "i32" },
      syscall: { parameters: ["i64"], result: "i64" },
      setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
      getpriority: { parameters: ["i32", "u32"], result: "i32" },
    });
  } catch (e) {
    return (e as Error).message;
  }
})();

/**
 * Ask for SCHED_FIFO at `priority` above the minimum for this thread.
 *
 * @example
 * ```ts ignore
 * const warning = setRealtimeThread(); // null when granted
 * ```
 */
export function setRealtimeThread(priority = 10): string | null {
  if (typeof libc === "string") {
    return `sched_setscheduler unavailable (${libc}); ran at normal priority`;
  }
  const SCHED_FIFO = 1;
  const prio = libc.symbols.sched_get_priority_min(SCHED_FIFO) + priority;
  const rc = libc.symbols.sched_setscheduler(
    0,
    SCHED_FIFO,
    new Int32Array([prio]),
  );
  return rc === 0
    ? null
    : "sched_setscheduler(SCHED_FIFO) refused (needs root or CAP_SYS_NICE); ran at normal priority";
}

/**
 * Set the nice value of the calling thread only (Linux: setpriority on its
 * thread id); returns the previous value, or the reason it was refused.
 * Threads and processes created later from this thread inherit it.
 *
 * @example
 * ```ts
 * const r = setThreadNice(0); // the same value: always permitted
 * console.log(typeof r.previous === "number" || r.warning !== null); // true
 * ```
 */
export function setThreadNice(
  nice: number,
): { previous: number | null; warning: string | null } {
  if (typeof libc === "string") {
    return { previous: null, warning: `setpriority unavailable (${libc})` };
  }
  const SYS_gettid = 186n; // x86_64
  const tid = Number(libc.symbols.syscall(SYS_gettid));
  const PRIO_PROCESS = 0;
  const previous = libc.symbols.getpriority(PRIO_PROCESS, tid);
  const rc = libc.symbols.setpriority(PRIO_PROCESS, tid, nice);
  return rc === 0 ? { previous, warning: null } : {
    previous,
    warning:
      `setpriority(nice ${nice}) refused (needs root or CAP_SYS_NICE); the launcher's main thread ran at nice ${previous}`,
  };
}
