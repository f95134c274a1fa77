/** The spawn helper (launcher/fork_at_ts.c): fork at T_s, the paper's way. */
import assert from "node:assert/strict";
import { ensureForkHelper, runForkAtTs } from "../launcher/fork_at_ts.ts";
import { monotonicMs } from "../launcher/clock.ts";
import { newInstance } from "../launcher/instance.ts";
import { launch } from "../launcher/launch.ts";
import {
  getOpenFilesLimit,
  setOpenFilesSoftLimit,
} from "../launcher/limits.ts";
import {
  denoRunner,
  type ExitStatus,
  type Proc,
  type ProcessRunner,
  type TimedChunk,
} from "../launcher/runner.ts";
import { alive, fakeProfile } from "./helpers.ts";

interface Got {
  instance: number;
  proc: Proc;
  t_s: number;
  out: string;
  err: string;
  status: ExitStatus;
}

/** Fork `scripts` (sh -c) on `intervalMs`, collect each one's output and exit. */
async function forkScripts(
  scripts: string[],
  options: {
    intervalMs?: number;
    env?: Record<string, string>;
    /** Called once every instance is forked (before their output is read). */
    forked?: () => void;
  } = {},
): Promise<{ got: Got[]; failed: string[]; helperCpuMs: number | null }> {
  const insts = scripts.map((_, i) =>
    newInstance(i, {
      scheduled_ms: options.intervalMs === undefined
        ? null
        : i * options.intervalMs,
    })
  );
  const pending: Promise<Got>[] = [];
  const failed: string[] = [];
  const session = await runForkAtTs(insts, {
    plan: (i) => ({ argv: ["/bin/sh", "-c", scripts[i]], env: options.env }),
    setT0: () => {},
    onStarted: (inst, proc, t_s) =>
      pending.push(
        (async () => {
          const [out, err, status] = await Promise.all([
            new Response(proc.stdout).text(),
            new Response(proc.stderr).text(),
            proc.status,
          ]);
          return { instance: inst.instance, proc, t_s, out, err, status };
        })(),
      ),
    onFailed: (_s, e) => failed.push((e as Error).message),
    interrupted: () => false,
  });
  options.forked?.();
  // S lines come from each instance's thread: in any order
  const got = (await Promise.all(pending)).sort((a, b) =>
    a.instance - b.instance
  );
  const before = session.cpuMs();
  await session.close();
  assert.equal(before, null, "the helper's CPU is known only once it is gone");
  return { got, failed, helperCpuMs: session.cpuMs() };
}

Deno.test("runForkAtTs() forks each instance itself: the pid is the process, its output and exit come back", async () => {
  const { got, failed } = await forkScripts([
    "echo out $$; echo err $$ >&2; exit 3",
    "echo out $$; kill -9 $$",
    "echo $GREETING",
  ], { env: { GREETING: "hello from the plan" } });
  assert.deepEqual(failed, []);
  assert.equal(got.length, 3);
  const [a, b, c] = got;
  // `sh -c` is the forked process itself: $$ is the pid the helper reported.
  assert.equal(a.out.trim(), `out ${a.proc.pid}`);
  assert.equal(a.err.trim(), `err ${a.proc.pid}`);
  assert.deepEqual(a.status, { code: 3, signal: null });
  assert.equal(b.out.trim(), `out ${b.proc.pid}`);
  assert.deepEqual(b.status, { code: null, signal: "SIGKILL" });
  assert.equal(c.out.trim(), "hello from the plan");
  // back-to-back: T_s taken in order, each after T_0
  assert.ok(a.t_s > 0 && a.t_s <= b.t_s && b.t_s <= c.t_s);
});

Deno.test("runForkAtTs() gives each instance pipes of its own, relayed, under the open-files limit it was started with", async () => {
  // A low soft limit: 40 live instances need more descriptors in the helper
  // (two sockets, two pipes and a pidfd each) than it allows, so the helper
  // must raise its own, and give each instance the limit back.
  const n = 40;
  const lim = getOpenFilesLimit();
  assert.ok(lim, "the open-files limit is readable");
  const open = [...Deno.readDirSync("/proc/self/fd")].length;
  const low = open + 12 + 3 * n + 8;
  assert.ok(low < lim.hard, "the hard limit leaves room to lower the soft one");
  const dir = await Deno.makeTempDir();
  const go = `${dir}/go`;
  const script = `until [ -e ${go} ]; do sleep 0.02; done; ` +
    "readlink /proc/self/fd/1; readlink /proc/self/fd/2 >&2; ulimit -Sn";
  assert.ok(setOpenFilesSoftLimit(low));
  try {
    const { got, failed } = await forkScripts(Array(n).fill(script), {
      // every instance is alive, holding its descriptors, until now
      forked: () => Deno.writeTextFileSync(go, ""),
    });
    assert.deepEqual(failed, []);
    assert.equal(got.length, n);
    for (const g of got) {
      const [fd1, soft] = g.out.trim().split("\n");
      assert.match(fd1, /^pipe:/, `instance ${g.instance}'s stdout`);
      assert.match(g.err.trim(), /^pipe:/, `instance ${g.instance}'s stderr`);
      assert.equal(Number(soft), low, `instance ${g.instance}'s soft limit`);
      assert.deepEqual(g.status, { code: 0, signal: null });
    }
  } finally {
    setOpenFilesSoftLimit(lim.soft);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runForkAtTs() fails an instance that cannot get its pipes, with the reason and the fix, and forks the others", async () => {
  // The helper under a hard open-files limit of 26 (prlimit, util-linux):
  // its 16 sockets for 8 instances fit, the pipes of all 8 at once do not.
  const prlimit = ["/usr/bin/prlimit", "/bin/prlimit"].find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (!prlimit) {
    console.log("skipped: no prlimit (util-linux) to lower the helper's limit");
    return;
  }
  const dir = await Deno.makeTempDir();
  try {
    const wrapper = `${dir}/helper`;
    await Deno.writeTextFile(
      wrapper,
      `#!/bin/sh\nexec ${prlimit} --nofile=26:26 ${await ensureForkHelper()} "$@"\n`,
    );
    await Deno.chmod(wrapper, 0o755);
    const insts = Array.from(
      { length: 8 },
      (_, i) => newInstance(i, { scheduled_ms: null }),
    );
    const exits: Promise<ExitStatus>[] = [];
    const failed: string[] = [];
    const session = await runForkAtTs(insts, {
      plan: () => ({ argv: ["/bin/sleep", "1"] }),
      setT0: () => {},
      onStarted: (_s, p) => {
        exits.push(p.status);
        void new Response(p.stdout).text();
        void new Response(p.stderr).text();
      },
      onFailed: (_s, e) => failed.push((e as Error).message),
      interrupted: () => false,
    }, { binary: wrapper });
    const statuses = await Promise.all(exits);
    await session.close();
    assert.equal(statuses.length + failed.length, 8);
    assert.ok(failed.length >= 1, "some instance should run out of files");
    assert.ok(statuses.length >= 1, "the first instances get their pipes");
    for (const f of failed) {
      assert.match(
        f,
        /its output pipes: .+ \(raise the open-files limit: ulimit -n\)/,
      );
    }
    for (const st of statuses) assert.equal(st.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runForkAtTs() relays all an instance writes, to its last byte before it exits", async () => {
  const { got } = await forkScripts([
    "head -c 300000 /dev/zero | tr '\\0' x; printf last; exit 4",
    "i=0; while [ $i -lt 2000 ]; do printf y; i=$((i+1)); done; printf end >&2",
  ]);
  const [bulk, bytewise] = got;
  assert.equal(bulk.out.length, 300004);
  assert.ok(bulk.out.endsWith("xlast"));
  assert.deepEqual(bulk.status, { code: 4, signal: null });
  assert.equal(bytewise.out, "y".repeat(2000));
  assert.equal(bytewise.err, "end");
});

Deno.test("runForkAtTs() proc.chunks() reads what the streams would, to the end, each chunk timed when the helper read it", async () => {
  const got: Promise<[TimedChunk[], TimedChunk[]]>[] = [];
  const all = async (chunks: AsyncIterable<TimedChunk>) => {
    const out: TimedChunk[] = [];
    for await (const c of chunks) out.push(c);
    return out;
  };
  const text = (cs: TimedChunk[]) => {
    const dec = new TextDecoder();
    return cs.map((c) => dec.decode(c.bytes, { stream: true })).join("") +
      dec.decode();
  };
  let startedAt = NaN;
  const session = await runForkAtTs([newInstance(0, { scheduled_ms: null })], {
    plan: () => ({
      argv: [
        "/bin/sh",
        "-c",
        "head -c 200000 /dev/zero | tr '\\0' a; printf end; echo oops >&2",
      ],
    }),
    setT0: () => {},
    onStarted: (_s, p) => {
      startedAt = monotonicMs();
      assert.ok(p.chunks, "fork mode offers chunks");
      got.push(Promise.all([all(p.chunks("stdout")), all(p.chunks("stderr"))]));
    },
    onFailed: () => {},
    interrupted: () => false,
  });
  // Read nothing for 500 ms: the instance has written all by then, and a
  // chunk's time must be when the helper read it, not when we do.
  await new Promise((r) => setTimeout(r, 500));
  const readFrom = monotonicMs();
  const [out, err] = await got[0];
  await session.close();
  assert.equal(text(out), "a".repeat(200000) + "end");
  assert.equal(text(err), "oops\n");
  assert.ok(out.length > 1, "200,000 bytes come in more than one chunk");
  const times = out.map((c) => c.at!);
  assert.ok(times.every((t, i) => i === 0 || t >= times[i - 1]), "in order");
  assert.ok(times[0] >= startedAt - 1000, "on the monotonic clock");
  assert.ok(times.at(-1)! < readFrom, "timed by the helper, before we read");
});

Deno.test("runForkAtTs() reports an exit while a descendant still holds the instance's stdout, and close() does not wait for it", async () => {
  let proc: Proc | null = null;
  const session = await runForkAtTs([newInstance(0, { scheduled_ms: null })], {
    plan: () => ({ argv: ["/bin/sh", "-c", "sleep 30 & echo $!"] }),
    setT0: () => {},
    onStarted: (_s, p) => void (proc = p),
    onFailed: () => {},
    interrupted: () => false,
  });
  assert.ok(proc);
  const p: Proc = proc;
  const reader = p.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const r = await reader.read();
    if (r.done) break;
    text += new TextDecoder().decode(r.value);
  }
  const descendant = Number(text.trim());
  assert.ok(descendant > 0, `the descendant's pid, got "${text}"`);
  try {
    assert.deepEqual(await p.status, { code: 0, signal: null });
    assert.ok(alive(descendant), "the descendant still holds stdout");
    await session.close();
    // the helper is gone, and with it the launcher's end of the stream
    assert.equal((await reader.read()).done, true);
  } finally {
    try {
      Deno.kill(descendant, "SIGKILL");
    } catch {
      // gone
    }
  }
});

Deno.test("runForkAtTs() reports the helper's own CPU, without its instances'", async () => {
  const t0 = performance.now();
  // The instance burns CPU for a while; the helper only forks and waits.
  const { got, helperCpuMs } = await forkScripts([
    "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo done",
  ]);
  const wall = performance.now() - t0;
  assert.equal(got[0].out.trim(), "done");
  assert.ok(helperCpuMs !== null && helperCpuMs > 0, `${helperCpuMs}`);
  // The busy child's CPU is most of the wall time; the helper's is a small part.
  assert.ok(helperCpuMs < 0.2 * wall, `helper ${helperCpuMs} ms of ${wall} ms`);
});

Deno.test("runForkAtTs() forks on the schedule: never early, in order", async () => {
  const { got } = await forkScripts(
    Array.from({ length: 5 }, () => "exit 0"),
    { intervalMs: 20 },
  );
  const ts = got.map((g) => g.t_s).sort((x, y) => x - y);
  for (let i = 0; i < ts.length; i++) {
    // the schedule moved by the 2 ms lead (RELEASE_LEAD_MS)
    assert.ok(ts[i] >= 2 + i * 20, `instance ${i} at ${ts[i]} ms`);
  }
  // the gaps follow the 20 ms interval: compared with each other, not with a clock
  const gaps = ts.slice(1).map((t, i) => t - ts[i]);
  assert.ok(Math.max(...gaps) < 2 * Math.min(...gaps), `${gaps}`);
});

Deno.test("runForkAtTs() children get normal scheduling and the helper's timer slack, even when forked while it waits at SCHED_FIFO", async () => {
  const own = Number(Deno.readTextFileSync("/proc/self/timerslack_ns"));
  // field 41 of /proc/<pid>/stat: the scheduling policy (0: SCHED_OTHER)
  const script =
    "cat /proc/$$/timerslack_ns; cut -d')' -f2 /proc/$$/stat | cut -d' ' -f40";
  const { got } = await forkScripts([script, script], { intervalMs: 30 });
  for (const g of got) {
    const [slack, policy] = g.out.trim().split("\n").map(Number);
    assert.equal(policy, 0, "SCHED_OTHER");
    // A real-time parent's slack is 0, and a child keeps it: QEMU would
    // then take more timer wake-ups than the paper's harness gives it.
    assert.equal(slack, own);
  }
});

Deno.test("runForkAtTs() an exec that fails exits 127 and says why on stderr", async () => {
  const insts = [newInstance(0, { scheduled_ms: null })];
  let got: Promise<[string, ExitStatus]> | null = null;
  const session = await runForkAtTs(insts, {
    plan: () => ({ argv: ["/nonexistent/qemu"] }),
    setT0: () => {},
    onStarted: (_s, p) => {
      got = Promise.all([new Response(p.stderr).text(), p.status]);
      p.stdout.cancel();
    },
    onFailed: () => {},
    interrupted: () => false,
  });
  const [err, status] = await got!;
  await session.close();
  assert.equal(status.code, 127);
  assert.match(err, /exec \/nonexistent\/qemu: No such file or directory/);
});

Deno.test("launch() fork mode: an image that is not there is spawn_failed, with the reason", async () => {
  const p = fakeProfile("missing", "unused");
  const res = await launch(p, {
    count: 2,
    pattern: { kind: "back-to-back" },
    argv: ["/nonexistent/guest"],
    spawnMode: "fork",
    sampleIntervalMs: 0,
    graceMs: 0,
  });
  assert.equal(res.spawnMode, "fork");
  for (const r of res.rows) {
    assert.equal(r.outcome, "spawn_failed");
    assert.match(r.error ?? "", /No such file/);
  }
});

Deno.test("launch() fork mode: close() kills what is left, nothing outlives the batch", async () => {
  const p = fakeProfile("stubborn", "trap '' TERM; echo READY; exec sleep 60");
  const pids: number[] = [];
  const res = await launch(p, {
    count: 3,
    pattern: { kind: "interval", intervalMs: 5 },
    argv: p.argv,
    spawnMode: "fork",
    sampleIntervalMs: 0,
    graceMs: 100,
    onEvent: () => {},
    onRows: (rows) => pids.push(...rows.map((r) => r.pid!).filter(Boolean)),
  });
  assert.equal(res.rows.filter((r) => r.outcome === "ready").length, 3);
  assert.equal(pids.length, 3);
  for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid}`);
});

Deno.test("launch() defaults to fork for back-to-back and interval, to prestart with a runner of its own", async () => {
  const p = fakeProfile("quick", "echo READY");
  const res = await launch(p, {
    count: 2,
    pattern: { kind: "interval", intervalMs: 5 },
    argv: p.argv,
    sampleIntervalMs: 0,
    graceMs: 0,
  });
  assert.equal(res.spawnMode, "fork");
  assert.equal(res.spawnFallback, null);
  assert.deepEqual(res.rows.map((r) => r.outcome), ["ready", "ready"]);
  const own: ProcessRunner = { ...denoRunner };
  const viaRunner = await launch(p, {
    count: 1,
    pattern: { kind: "back-to-back" },
    argv: p.argv,
    sampleIntervalMs: 0,
    graceMs: 0,
    runner: own,
  });
  assert.equal(viaRunner.spawnMode, "prestart");
  assert.match(viaRunner.spawnFallback ?? "", /a runner was given/);
  assert.equal(viaRunner.rows[0].outcome, "ready");
});

Deno.test("runForkAtTs() watches a literal ready line itself: at the read that completes it (across writes, \\r dropped, not across lines) it reads VmHWM, CPU and PSS, then kills the tree", async () => {
  const scripts = [
    // the needle in two writes, a \r inside; a descendant that must die too
    "sleep 30 & echo $! >&2; printf 'boo\\r'; sleep 0.1; printf 't ok'; sleep 30",
    // the needle's halves on two lines: no ready line, it exits by itself
    "echo boo; echo 't ok'; sleep 0.1; exit 4",
    // ready at once, PSS read (index 2, every 2nd)
    "echo 'xx boot ok yy'; exec sleep 30",
    // ready, no PSS read (index 3)
    "echo 'boot ok'; exec sleep 30",
  ];
  const insts = scripts.map((_, i) => newInstance(i, { scheduled_ms: null }));
  const ready = new Map<
    number,
    import("../launcher/fork_at_ts.ts").ReadyHere
  >();
  const work: Promise<
    { i: number; chunks: TimedChunk[]; err: string; status: ExitStatus }
  >[] = [];
  let t0 = NaN;
  const session = await runForkAtTs(insts, {
    plan: (i) => ({ argv: ["/bin/sh", "-c", scripts[i]] }),
    setT0: (t) => (t0 = t),
    onStarted: (inst, proc) =>
      work.push((async () => {
        const chunks: TimedChunk[] = [];
        const [, err, status] = await Promise.all([
          (async () => {
            for await (const c of proc.chunks!("stdout")) chunks.push(c);
          })(),
          new Response(proc.stderr).text(),
          proc.status,
        ]);
        return { i: inst.instance, chunks, err, status };
      })()),
    onFailed: () => {},
    interrupted: () => false,
    onReadyHere: (inst, r) => ready.set(inst.instance, r),
  }, { ready: { needle: "boot ok", kill: true, pssStep: 2 } });
  const got = (await Promise.all(work)).sort((a, b) => a.i - b.i);
  await session.close();
  assert.deepEqual([...ready.keys()].sort(), [0, 2, 3]);
  // T_e is the time of the read that completed the line: the second write
  const r0 = ready.get(0)!;
  const second = got[0].chunks.find((c) =>
    new TextDecoder().decode(c.bytes).includes("t ok")
  )!;
  assert.ok(
    Math.abs(r0.t + t0 - second.at!) < 1e-3,
    `${r0.t + t0} vs ${second.at}`,
  );
  assert.ok(got[0].chunks[0].at! < second.at!);
  for (const i of [0, 2, 3]) {
    const r = ready.get(i)!;
    assert.ok(
      r.rssPeakKib! > 0 && r.cpuMs! >= 0 && r.killed,
      JSON.stringify(r),
    );
    assert.equal(got[i].status.signal, "SIGKILL", `instance ${i}`);
  }
  assert.ok(r0.pssKib! > 0 && r0.ussKib! > 0 && ready.get(2)!.pssKib! > 0);
  assert.equal(ready.get(3)!.pssKib, null);
  assert.equal(ready.get(3)!.ussKib, null);
  assert.deepEqual(got[1].status, { code: 4, signal: null });
  const descendant = Number(got[0].err.trim());
  assert.ok(descendant > 0, got[0].err);
  assert.equal(
    alive(descendant),
    false,
    "the ready instance's descendant is killed with it",
  );
});

Deno.test("launch() fork mode: a literal ready line is seen and killed by the helper while the launcher's event loop is busy, with the default grace; a regex one waits for it", async () => {
  // After its ready line the guest writes "tick" every 10 ms until killed.
  const script = "echo 'ready now'; while :; do echo tick; sleep 0.01; done";
  const run = async (line: string) => {
    const p = fakeProfile("ticker", script, {
      ready: { line },
      teardown: "kill-after-ready",
    });
    let busy = true;
    const res = await launch(p, {
      count: 1,
      pattern: { kind: "back-to-back" },
      argv: p.argv,
      spawnMode: "fork",
      sampleIntervalMs: 0,
      // no graceMs: kill-after-ready SIGKILLs at ready by default
      pssSample: 1,
      onEvent: (ev) => {
        // Hold the event loop for 400 ms at the start, as a storm's output would.
        if (ev.type !== "started" || !busy) return;
        busy = false;
        const until = performance.now() + 400;
        while (performance.now() < until) { /* busy */ }
      },
    });
    return res.rows[0];
  };
  const literal = await run("ready now");
  const regex = await run("ready\\s+now");
  for (const r of [literal, regex]) {
    assert.equal(r.outcome, "ready");
    assert.equal(r.signal, "SIGKILL");
    assert.ok(
      r.rss_peak_kib! > 0 && r.cpu_ready_ms! >= 0 && r.pss_kib! > 0,
      JSON.stringify(r),
    );
  }
  // "ready now\n" is 10 bytes, each tick 5: the helper killed it within a
  // few ticks; the launcher's own kill came after its busy 400 ms.
  assert.ok(
    literal.output_bytes < regex.output_bytes / 3,
    `${literal.output_bytes} vs ${regex.output_bytes}`,
  );
  assert.ok(
    literal.output_bytes <= 10 + 5 * 5,
    `${literal.output_bytes} bytes`,
  );
});
