/**
 * The spawn helper's own CPU in a storm, two versions of its source side by
 * side: the working tree's `launcher/fork_at_ts.c` and the one at a git
 * revision, each built as the launcher builds it, N back-to-back
 * minkernel-microvm instances through `runForkAtTs` (the helper watches the
 * ready line and kills at it, as a `--grace 0` batch does), alternating
 * which goes first. Prints each storm's helper CPU (its `U` event: every
 * thread, the instances not in it), the main thread's CPU from T_0 to the
 * last exit and the median T_e, then the medians per side.
 *
 * ```sh
 * deno run -A bench/helper_ab.ts [BASE_REV=HEAD] [N=64] [ROUNDS=6]
 * ```
 *
 * @module
 */
import { execa } from "execa";
import { median } from "../mod.ts";
import { ensureForkHelper, runForkAtTs } from "../launcher/fork_at_ts.ts";
import { newInstance } from "../launcher/instance.ts";
import { ensureMinkernel } from "../images/build.ts";
import { noQemuLeft, warmHostMemory } from "./scale.ts";

const base = Deno.args[0] ?? "HEAD";
const n = Number(Deno.args[1] ?? 64);
const rounds = Number(Deno.args[2] ?? 6);
const root = new URL("..", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "bootstorm-helper-ab-" });
const baseSrc = `${dir}/fork_at_ts.c`;
await Deno.writeTextFile(
  baseSrc,
  (await execa("git", ["show", `${base}:launcher/fork_at_ts.c`], { cwd: root }))
    .stdout + "\n",
);
// Both built as the launcher builds its helper (its flags, named by hash).
const binaries: Record<string, string> = {
  [base]: await ensureForkHelper(dir, baseSrc),
  "working tree": await ensureForkHelper(dir),
};

// minkernel-microvm's argv under TCG and its ready line (the profile's).
const argv = [
  "qemu-system-x86_64",
  ...["-accel", "tcg", "-M", "microvm", "-nodefaults", "-no-user-config"],
  ...["-display", "none", "-serial", "stdio", "-m", "50", "-smp", "1"],
  ...["-kernel", await ensureMinkernel()],
];
const needle = "Hello";
const mainCpuMs = () =>
  Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]) /
  1e6;

async function storm(binary: string) {
  const insts = Array.from(
    { length: n },
    (_, i) => newInstance(i, { scheduled_ms: null }),
  );
  let c0 = 0, ended = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const te: number[] = [];
  const end = () => {
    if (++ended === n) done();
  };
  const session = await runForkAtTs(insts, {
    plan: () => ({ argv }),
    setT0: () => (c0 = mainCpuMs()),
    onStarted: (_s, p) => {
      for (const which of ["stdout", "stderr"] as const) {
        (async () => {
          for await (const _ of p.chunks!(which)) { /* read, dropped */ }
        })();
      }
      p.status.then(end);
    },
    onFailed: end,
    interrupted: () => false,
    onReadyHere: (_s, r) => void te.push(r.t),
  }, { binary, ready: { needle, kill: true, pssStep: 0 } });
  await all;
  const mainMs = mainCpuMs() - c0;
  await session.close();
  return {
    helperMs: session.cpuMs(),
    mainMs,
    teMs: median(te),
    ready: te.length,
  };
}

const got: Record<
  string,
  { helperMs: number[]; mainMs: number[]; teMs: number[] }
> = {};
for (const k of Object.keys(binaries)) {
  got[k] = { helperMs: [], mainMs: [], teMs: [] };
}
for (let r = 0; r < rounds; r++) {
  const order = Object.keys(binaries);
  if (r % 2) order.reverse();
  for (const k of order) {
    await noQemuLeft();
    await warmHostMemory(n * 64);
    const s = await storm(binaries[k]);
    console.log(
      `round ${r + 1} ${k}: helper ${
        s.helperMs?.toFixed(1)
      } ms, main from T_0 ${s.mainMs.toFixed(1)} ms, T_e median ${
        s.teMs.toFixed(0)
      } ms, ready ${s.ready}/${n}`,
    );
    if (s.helperMs !== null) got[k].helperMs.push(s.helperMs);
    got[k].mainMs.push(s.mainMs);
    got[k].teMs.push(s.teMs);
  }
}
for (const [k, v] of Object.entries(got)) {
  const range = (a: number[]) =>
    `${Math.min(...a).toFixed(1)}-${Math.max(...a).toFixed(1)}`;
  console.log(
    `${k}: helper CPU median ${median(v.helperMs).toFixed(1)} ms (${
      range(v.helperMs)
    }), main ${median(v.mainMs).toFixed(1)} ms, T_e median of medians ${
      median(v.teMs).toFixed(0)
    } ms`,
  );
}
await Deno.remove(dir, { recursive: true });
