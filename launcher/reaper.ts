/**
 * Nothing the launcher starts outlives it, whatever ends it (SIGKILL, a
 * crash, the OOM killer included), and an instance's teardown takes its
 * whole process tree.
 *
 * Three mechanisms, each for what it can do:
 *
 * - **Teardown walks the tree.** Stopping an instance signals the process
 *   and every descendant, found through /proc (`task/<tid>/children`,
 *   recursively; a scan of /proc/<pid>/stat where the kernel lacks
 *   CONFIG_PROC_CHILDREN), so a guest wrapper that forks
 *   (`sleep 1002 & echo READY; wait`) goes with its children. Descendants
 *   seen once are signalled again after the instance's process exits
 *   (they were handed to init), as long as they still carry the cookie below.
 * - **A batch tag.** Every instance carries its batch's tag in its
 *   environment (`BOOTSTORM_BATCH`, inherited by its whole tree); when a
 *   batch has reaped its instances, {@link killTagged} kills whatever still
 *   carries it: a daemon an instance left behind does not outlive its batch
 *   and distort the next one.
 * - **A reaper that outlives the launcher by design.** While the launcher
 *   has children, one small `/bin/sh` process (its own session, so its own
 *   scheduler group; SIGINT / SIGTERM / SIGHUP ignored; OOM score -1000 and
 *   nice -20 when permitted, so a loaded host runs it at once) blocks reading
 *   a pipe whose only writer is the launcher. The kernel closes that pipe
 *   when the launcher dies, however it dies; the reaper then SIGKILLs every
 *   process whose environment carries this launcher's cookie
 *   (`BOOTSTORM_OWNER=<pid>-<random>`, given to every child: instances,
 *   QEMU probes, image builds) until none is left, and exits. The same sweep
 *   runs when the launcher releases it normally. (An environment cookie is
 *   how Jenkins' process-tree killer finds a build's processes.)
 *
 * Not chosen:
 *
 * - A process group or session per instance. `Deno.Command` can only give
 *   a child a session of its own (`detached`: `setsid()`), and with
 *   CONFIG_SCHED_AUTOGROUP (on by default in Debian) a session is also a
 *   scheduler group of its own: each instance would then get a group's
 *   share of the CPU instead of a thread's, and a storm would take more of
 *   the host from other sessions than the paper's launcher (or the C
 *   harness) does. Measured here under other load (load average ~35): N=64
 *   back-to-back medians of 1.1-2.1 s with a session per instance against
 *   2.4-4.0 s without, alternating runs. A process group without a new
 *   session needs setpgid() in the child before exec: a helper exec'd in
 *   front of every instance.
 * - `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits,
 *   not the process; Deno spawns from the JS thread of whichever isolate
 *   asks (main or a worker) and its runtime may fork elsewhere, so a worker
 *   ending would kill live guests. It also needs a pre-exec hook that
 *   `Deno.Command` does not offer (an extra exec of a helper such as
 *   `setpriv --pdeathsig` inside ΔT), covers the direct child only (not a
 *   wrapper's children) and has a race before it is set.
 * - A cgroup (`cgroup.kill`) catches every descendant, but needs root or a
 *   delegated cgroup v2 subtree, and still needs a process alive after the
 *   launcher to write `cgroup.kill`: a reaper anyway.
 *
 * What it cannot catch: a descendant started with an emptied environment
 * (`env -i`) that was not in the tree when teardown walked it; a process
 * stuck in uninterruptible sleep (it dies when it wakes). apt-get, run by
 * the dependency check, is deliberately not owned: killing dpkg half way
 * would leave the package database broken.
 *
 * @module
 */

/** Environment variable every child of the launcher carries. */
export const OWNER_ENV = "BOOTSTORM_OWNER";

/** Environment variable every instance of one batch carries. */
export const BATCH_ENV = "BOOTSTORM_BATCH";

/** The reaper's script: wait for EOF on stdin, then kill every owned process. */
const REAPER_SCRIPT = `trap '' INT TERM HUP QUIT PIPE
echo -1000 > /proc/$$/oom_score_adj 2>/dev/null
echo -20 > /proc/$$/autogroup 2>/dev/null
renice -n -20 $$ > /dev/null 2>&1
cat > /dev/null
i=0
while [ $i -lt 200 ]; do
  pids=$(grep -lsxzF "$1" /proc/[0-9]*/environ 2>/dev/null | sed 's,^/proc/,,;s,/environ$,,')
  [ -n "$pids" ] || exit 0
  kill -KILL $pids 2>/dev/null
  sleep 0.01
  i=$((i+1))
done
exit 1`;

const cookie = `${Deno.pid}-${
  [...crypto.getRandomValues(new Uint8Array(6))].map((b) =>
    b.toString(16).padStart(2, "0")
  ).join("")
}`;

/**
 * The environment to give every process the launcher starts (merged into
 * the inherited environment by `Deno.Command`).
 *
 * @example
 * ```ts
 * import { ownerEnv, OWNER_ENV } from "./reaper.ts";
 * console.log(OWNER_ENV in ownerEnv()); // true
 * ```
 */
export function ownerEnv(): Record<string, string> {
  return { [OWNER_ENV]: cookie };
}

/**
 * Whether process `pid` carries this launcher's owner cookie (so a pid seen
 * earlier is still one of ours, not a reused one).
 */
export function isOwned(pid: number): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0").includes(
      `${OWNER_ENV}=${cookie}`,
    );
  } catch {
    return false;
  }
}

let childrenFiles: boolean | null = null;

/**
 * Whether this kernel links a process to its children in
 * /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN), the way
 * {@link descendants} and the spawn helper's kill at ready find them.
 *
 * @example
 * ```ts
 * import { hasChildrenFiles } from "./reaper.ts";
 * console.log(typeof hasChildrenFiles()); // "boolean"
 * ```
 */
export function hasChildrenFiles(): boolean {
  childrenFiles ??= (() => {
    try {
      Deno.statSync(`/proc/${Deno.pid}/task/${Deno.pid}/children`);
      return true;
    } catch {
      return false;
    }
  })();
  return childrenFiles;
}

/**
 * Every descendant of process `pid` (children, their children…), from
 * /proc/<pid>/task/<tid>/children; with a kernel built without
 * CONFIG_PROC_CHILDREN, from one scan of every /proc/<pid>/stat.
 *
 * @example
 * ```ts
 * import { descendants } from "./reaper.ts";
 * const c = new Deno.Command("/bin/sh", { args: ["-c", "sleep 5 & wait"] }).spawn();
 * await new Promise((r) => setTimeout(r, 200));
 * console.log(descendants(c.pid).length); // 1
 * c.kill("SIGKILL");
 * await c.status;
 * ```
 */
export function descendants(pid: number): number[] {
  const childrenOf = hasChildrenFiles()
    ? childrenFromTasks
    : childrenFromStat();
  const out: number[] = [];
  const seen = new Set([pid]);
  const queue = [pid];
  while (queue.length) {
    for (const c of childrenOf(queue.shift()!)) {
      if (seen.has(c)) continue;
      seen.add(c);
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function childrenFromTasks(pid: number): number[] {
  const out: number[] = [];
  let tasks: Iterable<Deno.DirEntry>;
  try {
    tasks = Deno.readDirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const text = Deno.readTextFileSync(
        `/proc/${pid}/task/${t.name}/children`,
      );
      for (const c of text.split(" ")) if (c.trim()) out.push(Number(c));
    } catch {
      // thread gone
    }
  }
  return out;
}

function childrenFromStat(): (pid: number) => number[] {
  const byParent = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const s = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]);
      const list = byParent.get(ppid) ?? [];
      list.push(Number(e.name));
      byParent.set(ppid, list);
    } catch {
      // gone
    }
  }
  return (pid) => byParent.get(pid) ?? [];
}

/**
 * A new batch tag: the environment to give every instance of one batch
 * (on top of {@link ownerEnv}), and the tag for {@link killTagged}.
 *
 * @example
 * ```ts
 * import { BATCH_ENV, newBatchTag } from "./reaper.ts";
 * const b = newBatchTag();
 * console.log(b.env[BATCH_ENV] === b.tag); // true
 * ```
 */
export function newBatchTag(): { tag: string; env: Record<string, string> } {
  const tag = `${cookie}-${++batches}`;
  return { tag, env: { ...ownerEnv(), [BATCH_ENV]: tag } };
}
let batches = 0;

/**
 * SIGKILL every process whose environment carries batch tag `tag`, until
 * none is left (bounded: 2 s); returns how many were killed. For the end of
 * a batch, after its instances have been reaped.
 *
 * @example
 * ```ts
 * import { killTagged, newBatchTag } from "./reaper.ts";
 * const b = newBatchTag();
 * console.log(await killTagged(b.tag)); // 0
 * ```
 */
export async function killTagged(tag: string): Promise<number> {
  const needle = `${BATCH_ENV}=${tag}`;
  let killed = 0;
  for (let round = 0; round < 200; round++) {
    const found: number[] = [];
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const env = Deno.readTextFileSync(`/proc/${e.name}/environ`);
        if (env.split("\0").includes(needle)) found.push(Number(e.name));
      } catch {
        // gone, or not ours to read
      }
    }
    if (found.length === 0) return killed;
    for (const pid of found) {
      try {
        Deno.kill(pid, "SIGKILL");
        killed++;
      } catch {
        // gone
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return killed;
}

interface Reaper {
  child: Deno.ChildProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  users: number;
}

let reaper: Reaper | null = null;
let stopping: Promise<void> | null = null;
let lastWarning: string | null = null;

/**
 * Why the reaper could not be started the last time it was needed (then
 * children would outlive a killed launcher), or null.
 */
export function reaperWarning(): string | null {
  return lastWarning;
}

/**
 * Make sure the reaper runs while the caller has children; returns the
 * function to call once every child of the caller has been reaped. The
 * reaper is shared: it stops (after its final sweep) when its last user
 * releases it.
 *
 * @example
 * ```ts
 * import { holdReaper, ownerEnv } from "./reaper.ts";
 * const release = await holdReaper();
 * const out = await new Deno.Command("/bin/true", { env: ownerEnv() }).output();
 * await release();
 * console.log(out.code); // 0
 * ```
 */
export async function holdReaper(): Promise<() => Promise<void>> {
  if (stopping) await stopping;
  if (!reaper) {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command("/bin/sh", {
        args: [
          "-c",
          REAPER_SCRIPT,
          "bootstorm-reaper",
          `${OWNER_ENV}=${cookie}`,
        ],
        stdin: "piped",
        stdout: "null",
        stderr: "null",
        detached: true,
      }).spawn();
    } catch (e) {
      // Run without it rather than not at all, and say so (run.json).
      lastWarning = `reaper not started (${
        (e as Error).message
      }): if the launcher is killed, its children may outlive it`;
      return () => Promise.resolve();
    }
    lastWarning = null;
    reaper = { child, writer: child.stdin.getWriter(), users: 0 };
  }
  const r = reaper;
  r.users++;
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    if (--r.users > 0) return;
    if (reaper === r) reaper = null;
    stopping = (async () => {
      try {
        await r.writer.close();
      } catch {
        // the reaper is gone already
      }
      await r.child.status;
    })();
    await stopping;
    stopping = null;
  };
}
