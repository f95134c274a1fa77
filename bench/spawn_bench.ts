/**
 * `deno bench bench/spawn_bench.ts`: the spawn call on the launcher's hot
 * path, `Deno.Command` (what the launcher uses) against execa (node's
 * child_process underneath), both spawning /bin/true with stdout and stderr
 * piped and waiting for it to be reaped.
 *
 * @module
 */
import { execa } from "execa";

Deno.bench("Deno.Command spawn + reap /bin/true", {
  group: "spawn",
  baseline: true,
}, async () => {
  const c = new Deno.Command("/bin/true", {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await c.stdout.cancel();
  await c.stderr.cancel();
  await c.status;
});

Deno.bench("execa spawn + reap /bin/true", { group: "spawn" }, async () => {
  await execa("/bin/true", { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
});

Deno.bench(
  "Deno.Command spawn call only (sync part)",
  { group: "call" },
  (b) => {
    b.start();
    const c = new Deno.Command("/bin/true", {
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    b.end();
    c.status.then(() => {});
  },
);

Deno.bench("execa spawn call only (sync part)", { group: "call" }, (b) => {
  b.start();
  const p = execa("/bin/true", {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
  });
  b.end();
  p.catch(() => {});
});
