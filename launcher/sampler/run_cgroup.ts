/**
 * A memory cgroup per run: every instance of the run joins it before it is
 * released, so the cgroup's usage is the run's own memory, exact (charged
 * page by page, no vmstat folding) and attributable (other processes on the
 * host do not add to it). cgroup v1 (`memory.usage_in_bytes` under
 * /sys/fs/cgroup/memory) and v2 (`memory.current` under the unified
 * hierarchy) are both handled; without a writable memory hierarchy the run
 * falls back to whole-system memory and says why.
 *
 * @module
 */
import { join } from "node:path";

/** A run's cgroup. */
export interface RunCgroup {
  /** Its folder. */
  dir: string;
  /** "v1" or "v2". */
  version: "v1" | "v2";
  /** The usage file the sampler reads (bytes). */
  usageFile: string;
  /** The file a pid is written to, to move it in. */
  procsFile: string;
}

const CANDIDATES: { root: string; version: "v1" | "v2"; usage: string }[] = [
  {
    root: "/sys/fs/cgroup/memory",
    version: "v1",
    usage: "memory.usage_in_bytes",
  },
  { root: "/sys/fs/cgroup/unified", version: "v2", usage: "memory.current" },
  { root: "/sys/fs/cgroup", version: "v2", usage: "memory.current" },
];

function isFile(p: string): boolean {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}

/**
 * Create `bootstorm/<name>` in the first memory hierarchy that has the usage
 * file and lets us create a group; returns it, or a reason string when none
 * works (not root, no memory controller).
 *
 * @example
 * ```ts
 * import { createRunCgroup, removeRunCgroup, runCgroupUsage } from "./run_cgroup.ts";
 * const cg = createRunCgroup(`doc-example-${Deno.pid}`);
 * if (typeof cg === "string") {
 *   console.log(cg); // why there is none (e.g. not root): the run samples whole-system memory
 * } else {
 *   console.log(cg.usageFile, runCgroupUsage(cg)); // e.g. "/sys/fs/cgroup/memory/bootstorm/doc-example-…/memory.usage_in_bytes" 0
 *   removeRunCgroup(cg);
 * }
 * ```
 */
export function createRunCgroup(name: string): RunCgroup | string {
  const reasons: string[] = [];
  for (const c of CANDIDATES) {
    // v2: the memory controller must be enabled for children of the parent.
    if (c.version === "v2") {
      const ctl = join(c.root, "cgroup.subtree_control");
      if (!isFile(join(c.root, "cgroup.controllers"))) continue;
      try {
        if (!Deno.readTextFileSync(ctl).includes("memory")) {
          Deno.writeTextFileSync(ctl, "+memory");
        }
      } catch (e) {
        reasons.push(
          `${c.root}: cannot enable the memory controller (${
            (e as Error).message
          })`,
        );
        continue;
      }
    } else if (!isFile(join(c.root, c.usage))) {
      continue;
    }
    const parent = join(c.root, "bootstorm");
    const dir = join(parent, name);
    // Groups of runs that died (SIGKILL) stay behind empty: remove them
    // (rmdir refuses a group that still holds a process).
    try {
      for (const e of Deno.readDirSync(parent)) {
        if (e.isDirectory) {
          try {
            Deno.removeSync(join(parent, e.name));
          } catch {
            // in use by a live run
          }
        }
      }
    } catch {
      // no parent yet
    }
    try {
      Deno.mkdirSync(dir, { recursive: true });
      if (c.version === "v2") {
        try {
          const ctl = join(parent, "cgroup.subtree_control");
          if (!Deno.readTextFileSync(ctl).includes("memory")) {
            Deno.writeTextFileSync(ctl, "+memory");
          }
        } catch {
          // the group may still account memory
        }
      }
    } catch (e) {
      reasons.push(`${dir}: ${(e as Error).message}`);
      continue;
    }
    const usageFile = join(dir, c.usage);
    if (!isFile(usageFile)) {
      removeRunCgroup({ dir, version: c.version, usageFile, procsFile: "" });
      reasons.push(`${dir}: no ${c.usage}`);
      continue;
    }
    return {
      dir,
      version: c.version,
      usageFile,
      procsFile: join(dir, "cgroup.procs"),
    };
  }
  return reasons.length
    ? `no per-run memory cgroup (${
      reasons.join("; ")
    }); run as root on a host with the memory controller`
    : "no memory cgroup hierarchy mounted (cgroup v1 memory or v2 with the memory controller)";
}

/**
 * Move a process into the run's cgroup (its later children follow it).
 * Returns false when the write fails (the process is gone, or no rights).
 */
export function joinRunCgroup(cg: RunCgroup, pid: number): boolean {
  try {
    Deno.writeTextFileSync(cg.procsFile, String(pid));
    return true;
  } catch {
    return false;
  }
}

/** The run's memory now, bytes (null when it cannot be read). */
export function runCgroupUsage(cg: RunCgroup): number | null {
  try {
    return Number(Deno.readTextFileSync(cg.usageFile).trim());
  } catch {
    return null;
  }
}

/**
 * Remove the run's cgroup (it must be empty: call after every instance is
 * reaped). Processes still inside are moved to the parent first.
 */
export function removeRunCgroup(cg: RunCgroup): void {
  try {
    const left = Deno.readTextFileSync(join(cg.dir, "cgroup.procs")).trim();
    if (left) {
      const parentProcs = join(cg.dir, "..", "..", "cgroup.procs");
      for (const pid of left.split("\n")) {
        try {
          Deno.writeTextFileSync(parentProcs, pid);
        } catch {
          // gone
        }
      }
    }
  } catch {
    // no procs file
  }
  try {
    Deno.removeSync(cg.dir);
  } catch {
    // busy or gone: the next run's cleanup tries again
  }
}
