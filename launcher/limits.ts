/**
 * The open-files limit: read it, and raise the soft limit toward the hard
 * limit when a sweep plans more concurrent instances than it allows.
 *
 * @module
 */

const RLIMIT_NOFILE = 7;

function libc() {
  return Deno.dlopen("libc.so.6", {
    getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
    setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  });
}

/** Current `{ soft, hard }` open-files limit, or null when unknown. */
export function getOpenFilesLimit(): { soft: number; hard: number } | null {
  try {
    const lib = libc();
    const buf = new BigUint64Array(2);
    const rc = lib.symbols.getrlimit(RLIMIT_NOFILE, buf);
    lib.close();
    return rc === 0 ? { soft: Number(buf[0]), hard: Number(buf[1]) } : null;
  } catch {
    return null;
  }
}

/**
 * Set the open-files soft limit to `soft` (at most the hard limit; lowering
 * it is always allowed). Returns whether it took.
 *
 * @example
 * ```ts
 * import { getOpenFilesLimit, setOpenFilesSoftLimit } from "./limits.ts";
 * const lim = getOpenFilesLimit()!;
 * console.log(setOpenFilesSoftLimit(lim.soft)); // true
 * ```
 */
export function setOpenFilesSoftLimit(soft: number): boolean {
  const lim = getOpenFilesLimit();
  if (lim === null) return false;
  try {
    const lib = libc();
    const rc = lib.symbols.setrlimit(
      RLIMIT_NOFILE,
      new BigUint64Array([BigInt(soft), BigInt(lim.hard)]),
    );
    lib.close();
    return rc === 0;
  } catch {
    return false;
  }
}

/** File descriptors the launcher holds per booting instance (stdout, stderr, spare). */
export const FDS_PER_INSTANCE = 4;

/**
 * Make sure `concurrency` instances fit in the open-files limit; raise the
 * soft limit when allowed. Returns what happened, for the record.
 *
 * @example
 * ```ts ignore
 * const r = ensureOpenFiles(256); // { needed: 1088, soft: 20000, raised: false, ok: true }
 * ```
 */
export function ensureOpenFiles(
  concurrency: number,
): {
  needed: number;
  soft: number | null;
  hard: number | null;
  raised: boolean;
  ok: boolean;
} {
  const needed = concurrency * FDS_PER_INSTANCE + 64;
  const lim = getOpenFilesLimit();
  if (lim === null) {
    return { needed, soft: null, hard: null, raised: false, ok: true };
  }
  if (lim.soft >= needed) return { needed, ...lim, raised: false, ok: true };
  const target = Math.min(lim.hard, Math.max(needed, lim.soft));
  if (setOpenFilesSoftLimit(target)) {
    return {
      needed,
      soft: target,
      hard: lim.hard,
      raised: true,
      ok: target >= needed,
    };
  }
  return { needed, ...lim, raised: false, ok: false };
}
