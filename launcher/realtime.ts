/**
 * Real-time scheduling for the calling thread (SCHED_FIFO through FFI), so a
 * timing thread is not delayed behind CPU-bound guests. Returns null on
 * success, else the reason it was refused (recorded as a warning).
 *
 * @module
 */

/**
 * Ask for SCHED_FIFO at `priority` above the minimum for this thread.
 *
 * @example
 * ```ts ignore
 * const warning = setRealtimeThread(); // null when granted
 * ```
 */
export function setRealtimeThread(priority = 10): string | null {
  try {
    const lib = Deno.dlopen("libc.so.6", {
      sched_setscheduler: {
        parameters: ["i32", "i32", "buffer"],
        result: "i32",
      },
      sched_get_priority_min: { parameters: ["i32"], result: "i32" },
    });
    const SCHED_FIFO = 1;
    const prio = lib.symbols.sched_get_priority_min(SCHED_FIFO) + priority;
    const rc = lib.symbols.sched_setscheduler(
      0,
      SCHED_FIFO,
      new Int32Array([prio]),
    );
    lib.close();
    return rc === 0
      ? null
      : "sched_setscheduler(SCHED_FIFO) refused (needs root or CAP_SYS_NICE); ran at normal priority";
  } catch (e) {
    return `sched_setscheduler unavailable (${
      (e as Error).message
    }); ran at normal priority`;
  }
}
