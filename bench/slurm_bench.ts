/**
 * Multi-host storm benchmarks on the local Slurm cluster (deno task
 * cluster up first): the start-skew distribution over many small storms,
 * 3 × 128 against 1 × 384 minkernels (same machine, alternating, one
 * session), and the largest storm run with nothing lost. Writes
 * bench/results/slurm-<date>.json and prints a Markdown summary.
 *
 * deno run -A bench/slurm_bench.ts [--skew-runs 40] [--pairs 3] [--largest 768,870] [--only skew|spread|largest]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { quantileSorted } from "../mod.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: {
    "skew-runs": { type: "string", default: "40" },
    "skew-nodes": { type: "string", default: "3" },
    pairs: { type: "string", default: "3" },
    largest: { type: "string", default: "768" },
    only: { type: "string" },
    image: { type: "string", default: "minkernel-microvm" },
  },
});

interface Storm {
  code: number;
  dir: string;
  record: Record<string, unknown>;
  wallS: number;
}

async function storm(args: string[]): Promise<Storm> {
  const out = join(ROOT, "data/storms/bench");
  const t = performance.now();
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--no-concurrent-recompilation,--no-concurrent-osr",
      join(ROOT, "cli/sweep.ts"),
      "--slurm",
      "--image",
      values.image!,
      "--accel",
      "tcg",
      "--out",
      out,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallS = (performance.now() - t) / 1000;
  const stdout = new TextDecoder().decode(r.stdout).trim().split("\n");
  const dir = stdout[stdout.length - 1];
  let record: Record<string, unknown> = {};
  try {
    record = JSON.parse(Deno.readTextFileSync(join(dir, "run.json")));
  } catch {
    console.error(new TextDecoder().decode(r.stderr));
  }
  return { code: r.code, dir, record, wallS };
}

type Host = {
  host: string;
  ready: number;
  count: number;
  lost: number;
  last_ready_ms: number | null;
  clock_offset_ms: number | null;
  clock_uncertainty_ms: number | null;
  start_late_ms: number | null;
};
const mh = (s: Storm) =>
  s.record.multi_host as {
    hosts: Host[];
    skew: {
      start_skew_ms: number | null;
      start_skew_same_clock_ms: number | null;
    };
  };

function q(xs: number[], ps = [0.5, 0.9, 0.99, 1]): string {
  const s = [...xs].sort((a, b) => a - b);
  return ps.map((p) =>
    `p${Math.round(p * 100)} ${quantileSorted(s, p).toFixed(3)}`
  )
    .join(", ");
}

function bootStats(dir: string) {
  const text = Deno.readTextFileSync(join(dir, "instances.csv")).trim().split(
    "\n",
  );
  const head = text[0].split(",");
  const bi = head.indexOf("boot_ms"), oi = head.indexOf("outcome");
  const boots = text.slice(1).map((l) => l.split(",")).filter((c) =>
    c[oi] === "ready"
  ).map((c) => Number(c[bi])).sort((a, b) => a - b);
  return {
    n: boots.length,
    median_ms: quantileSorted(boots, 0.5),
    p99_ms: quantileSorted(boots, 0.99),
  };
}

const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  image: values.image,
  load_at_start: Deno.loadavg(),
};
const md: string[] = [];

if (!values.only || values.only === "skew") {
  const n = Number(values["skew-runs"]);
  const skews: number[] = [],
    same: number[] = [],
    offErr: number[] = [],
    unc: number[] = [],
    late: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = await storm([
      "--nodes",
      values["skew-nodes"]!,
      "--count",
      "8",
      "--back-to-back",
    ]);
    if (s.code !== 0) {
      console.error(`skew run ${i}: exit ${s.code}`);
      continue;
    }
    const m = mh(s);
    skews.push(m.skew.start_skew_ms!);
    same.push(m.skew.start_skew_same_clock_ms!);
    for (const h of m.hosts) {
      offErr.push(Math.abs(h.clock_offset_ms!));
      unc.push(h.clock_uncertainty_ms!);
      late.push(h.start_late_ms!);
    }
    await Deno.remove(s.dir, { recursive: true });
    console.error(
      `skew ${i + 1}/${n}: ${m.skew.start_skew_same_clock_ms!.toFixed(3)} ms`,
    );
  }
  results.skew = {
    runs: skews.length,
    start_skew_ms: skews,
    start_skew_same_clock_ms: same,
    abs_offset_ms: offErr,
    uncertainty_ms: unc,
    start_late_ms: late,
  };
  md.push(
    `### Start skew (${skews.length} storms of ${
      values["skew-nodes"]
    } × 8 back-to-back)`,
    "",
    `- skew between the ${values["skew-nodes"]} hosts, common timeline (ms): ${
      q(skews)
    }`,
    `- true skew (one shared clock, offset errors included) (ms): ${q(same)}`,
    `- share of storms with true skew ≤ 1 ms: ${
      (same.filter((x) => x <= 1).length / Math.max(1, same.length) * 100)
        .toFixed(0)
    } %`,
    `- per host, first release late against its due time (ms): ${q(late)}`,
    `- |measured clock offset| (true offset 0 here) (ms): ${
      q(offErr)
    }; uncertainty (ms): ${q(unc)}`,
    "",
  );
}

if (!values.only || values.only === "spread") {
  const pairs = Number(values.pairs);
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? ["3x128", "1x384"] : ["1x384", "3x128"];
    for (const kind of order) {
      const s = await storm(
        kind === "3x128"
          ? ["--nodes", "3", "--count", "128", "--back-to-back"]
          : ["--nodes", "1", "--count", "384", "--back-to-back"],
      );
      const m = mh(s);
      const b = bootStats(s.dir);
      const last = Math.max(...m.hosts.map((h) => h.last_ready_ms ?? NaN));
      rows.push({
        kind,
        round: i,
        code: s.code,
        ready: m.hosts.reduce((a, h) => a + h.ready, 0),
        lost: m.hosts.reduce((a, h) => a + h.lost, 0),
        last_ready_ms: last,
        per_host_last_ready_ms: m.hosts.map((h) => h.last_ready_ms),
        median_boot_ms: b.median_ms,
        p99_boot_ms: b.p99_ms,
        job_wall_s: s.wallS,
        load: Deno.loadavg()[0],
      });
      console.error(
        `${kind} round ${i}: last ready ${last.toFixed(0)} ms, median ${
          b.median_ms.toFixed(0)
        } ms`,
      );
      await Deno.remove(s.dir, { recursive: true });
    }
  }
  results.spread = rows;
  const of = (k: string, f: string) =>
    rows.filter((r) => r.kind === k).map((r) => r[f] as number);
  const med = (xs: number[]) =>
    quantileSorted([...xs].sort((a, b) => a - b), 0.5);
  md.push(
    `### 3 × 128 on three nodes against 1 × 384 on one (one machine, 2 cores, ${pairs} alternating rounds)`,
    "",
    "| | time to the last ready instance (median of rounds) | median boot_ms | p99 boot_ms | ready / lost |",
    "|---|---|---|---|---|",
    ...["3x128", "1x384"].map((k) =>
      `| ${k} | ${med(of(k, "last_ready_ms")).toFixed(0)} ms (${
        of(k, "last_ready_ms").map((x) => x.toFixed(0)).join(", ")
      }) | ${med(of(k, "median_boot_ms")).toFixed(0)} | ${
        med(of(k, "p99_boot_ms")).toFixed(0)
      } | ${of(k, "ready").join("/")} / ${of(k, "lost").join("/")} |`
    ),
    "",
  );
}

if (!values.only || values.only === "largest") {
  const tried: Record<string, unknown>[] = [];
  for (const total of values.largest!.split(",").map(Number)) {
    const s = await storm([
      "--nodes",
      "3",
      "--total",
      String(total),
      "--back-to-back",
    ]);
    const m = s.record.multi_host ? mh(s) : null;
    const ready = m ? m.hosts.reduce((a, h) => a + h.ready, 0) : 0;
    const row = {
      total,
      code: s.code,
      ready,
      lost: m ? m.hosts.reduce((a, h) => a + h.lost, 0) : null,
      last_ready_ms: m
        ? Math.max(...m.hosts.map((h) => h.last_ready_ms ?? NaN))
        : null,
      skew_same_clock_ms: m?.skew.start_skew_same_clock_ms ?? null,
      dir: s.dir,
    };
    tried.push(row);
    console.error(`largest ${total}: exit ${s.code}, ${ready} ready`);
  }
  results.largest = tried;
  md.push(
    "### Largest storms",
    "",
    ...tried.map((r) =>
      `- 3 nodes, --total ${r.total} back-to-back: exit ${r.code}, ${r.ready} ready, ${r.lost} lost, last ready ${
        (r.last_ready_ms as number)?.toFixed?.(0)
      } ms after T_0, true start skew ${
        (r.skew_same_clock_ms as number)?.toFixed?.(3)
      } ms`
    ),
    "",
  );
}

const outFile = join(
  ROOT,
  `bench/results/slurm-${values.only ?? "all"}${
    values.only === "skew" ? `-${values["skew-nodes"]}nodes` : ""
  }-${new Date().toISOString().slice(0, 10)}.json`,
);
Deno.writeTextFileSync(outFile, JSON.stringify(results, null, 2) + "\n");
console.log(md.join("\n"));
console.error(`wrote ${outFile}`);
