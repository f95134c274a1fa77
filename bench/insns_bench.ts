/**
 * Boot work (`--insns`) benchmark: how repeatable the instruction counts
 * are alone and in a storm, next to boot time; how the systems separate; and
 * what `--insns` costs in boot time (alternating runs with and without it).
 * Prints Markdown and writes `bench/results/insns-<date>.json`.
 *
 * ```sh
 * deno run -A bench/insns_bench.ts                    # all images (about 10 min)
 * deno run -A bench/insns_bench.ts --quick            # 3 alone, storm of 4, minkernel + synthetic
 * deno run -A bench/insns_bench.ts --only repeat --images osv,rumprun
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import * as ss from "simple-statistics";
import {
  type InstanceRow,
  loadProfile,
  median,
  permutationTest,
  runBatch,
} from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean" },
    only: { type: "string" },
    images: { type: "string" },
    alone: { type: "string" },
    storm: { type: "string" },
    rounds: { type: "string" },
    out: { type: "string" },
  },
});

const SHARED = new URL("../../shared/images/", import.meta.url).pathname;
const sharedPresent = (() => {
  try {
    return Deno.statSync(SHARED).isDirectory;
  } catch {
    return false;
  }
})();

interface Case {
  label: string;
  image: string;
  params?: Record<string, string>;
  shared?: boolean;
}

const ALL: Case[] = [
  { label: "minkernel (pc)", image: "minkernel" },
  { label: "minkernel-microvm", image: "minkernel-microvm" },
  { label: "synthetic spin 0", image: "synthetic", params: { spin_ms: "0" } },
  {
    label: "synthetic spin 500",
    image: "synthetic",
    params: { spin_ms: "500" },
  },
  { label: "solo5", image: "solo5", shared: true },
  { label: "unikraft", image: "unikraft", shared: true },
  { label: "rumprun", image: "rumprun", shared: true },
  { label: "osv (direct)", image: "osv", shared: true },
  { label: "osv (disk)", image: "osv-disk", shared: true },
  { label: "linux", image: "alpine-linux-quiet" },
];

const quick = values.quick ?? false;
const nAlone = Number(values.alone ?? (quick ? 3 : 10));
const nStorm = Number(values.storm ?? (quick ? 4 : 16));
const rounds = Number(values.rounds ?? (quick ? 4 : 10));
const only = values.only ?? "all";
const wanted = values.images?.split(",");
const cases = ALL.filter((c) =>
  (wanted ? wanted.includes(c.image) || wanted.includes(c.label) : true) &&
  (!quick || ["minkernel-microvm", "synthetic"].includes(c.image)) &&
  (!c.shared || sharedPresent)
);
const out = values.out ??
  await Deno.makeTempDir({ prefix: "bootstorm-insns-" });

async function batch(
  c: Case,
  count: number,
  insns: boolean | { mem: boolean },
): Promise<InstanceRow[]> {
  const profile = await loadProfile(c.image);
  const { result } = await runBatch(profile, {
    count,
    pattern: { kind: "back-to-back" },
    accel: "tcg",
    params: c.params,
    insns,
    timeoutMs: Math.max(profile.timeoutMs, count * 20000),
    outDir: join(out, c.image),
  });
  return result.rows.filter((r) => r.outcome === "ready");
}

/** Coefficient of variation (simple-statistics: sample SD / mean); 0 for fewer than 2 values or a zero mean. */
function cv(v: number[]): number {
  if (v.length < 2) return 0;
  const mean = ss.mean(v);
  return mean === 0 ? 0 : ss.sampleStandardDeviation(v) / mean;
}
const fmt = (x: number) =>
  x >= 1e6
    ? `${(x / 1e6).toFixed(x >= 1e8 ? 0 : 2)} M`
    : x >= 1e4
    ? `${(x / 1e3).toFixed(1)} k`
    : x.toFixed(0);

const report: Record<string, unknown> = {
  date: new Date().toISOString(),
  load_average: Deno.loadavg(),
  shared_images: sharedPresent ? SHARED : null,
  alone: nAlone,
  storm: nStorm,
};
const lines: string[] = [];

if (only === "all" || only === "repeat") {
  const rows: Record<string, unknown>[] = [];
  lines.push(
    `## Repeatability: ${nAlone} boots alone vs one storm of ${nStorm} back-to-back (TCG)`,
    "",
    "| system | alone: boot_ms median (cv) | storm: boot_ms median (cv) | boot moved | alone: guest insns median (cv) | storm: guest insns median (cv) | insns moved | footprint alone → storm (cv storm) | total insns (storm) | firmware before hand-over | guest by address rule (storm) | lag at T_e, max share |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  );
  for (const c of cases) {
    const alone: InstanceRow[] = [];
    for (let i = 0; i < nAlone; i++) alone.push(...(await batch(c, 1, true)));
    const storm = await batch(c, nStorm, true);
    const g = (rs: InstanceRow[], k: keyof InstanceRow) =>
      rs.map((r) => r[k] as number).filter((x) => typeof x === "number");
    const r = {
      system: c.label,
      alone_boot_median_ms: median(g(alone, "boot_ms")),
      alone_boot_cv: cv(g(alone, "boot_ms")),
      storm_boot_median_ms: median(g(storm, "boot_ms")),
      storm_boot_cv: cv(g(storm, "boot_ms")),
      alone_guest_median: median(g(alone, "insns_guest_ready")),
      alone_guest_cv: cv(g(alone, "insns_guest_ready")),
      storm_guest_median: median(g(storm, "insns_guest_ready")),
      storm_guest_cv: cv(g(storm, "insns_guest_ready")),
      storm_total_median: median(g(storm, "insns_ready")),
      storm_before_guest_median: median(g(storm, "insns_before_guest")),
      storm_guest_addr_median: median(g(storm, "insns_guest_addr_ready")),
      alone_footprint_median: median(g(alone, "guest_code_insns_ready")),
      storm_footprint_median: median(g(storm, "guest_code_insns_ready")),
      storm_footprint_cv: cv(g(storm, "guest_code_insns_ready")),
      alone_blocks_median: median(g(alone, "guest_blocks_ready")),
      storm_io_median: median(g(storm, "insns_io_ready")),
      storm_system_median: median(g(storm, "insns_system_ready")),
      storm_mem_median: median(g(storm, "mem_accesses_ready")),
      storm_pages_median: median(g(storm, "guest_code_pages_ready")),
      lag_share_max: Math.max(
        ...[...alone, ...storm].map((x) =>
          (x.insns_ready_lag ?? 0) / (x.insns_ready ?? 1)
        ),
      ),
      ready: `${alone.length}/${nAlone} + ${storm.length}/${nStorm}`,
    };
    rows.push(r);
    const moved = (a: number, b: number) =>
      `${a === 0 ? "–" : `${((b / a - 1) * 100).toFixed(1)} %`}`;
    lines.push(
      `| ${c.label} | ${r.alone_boot_median_ms.toFixed(0)} ms (${
        r.alone_boot_cv.toFixed(3)
      }) | ${r.storm_boot_median_ms.toFixed(0)} ms (${
        r.storm_boot_cv.toFixed(3)
      }) | ${moved(r.alone_boot_median_ms, r.storm_boot_median_ms)} | ${
        fmt(r.alone_guest_median)
      } (${r.alone_guest_cv.toFixed(4)}) | ${fmt(r.storm_guest_median)} (${
        r.storm_guest_cv.toFixed(4)
      }) | ${moved(r.alone_guest_median, r.storm_guest_median)} | ${
        fmt(r.alone_footprint_median)
      } → ${fmt(r.storm_footprint_median)} (${
        r.storm_footprint_cv.toFixed(4)
      }) | ${fmt(r.storm_total_median)} | ${
        fmt(r.storm_before_guest_median)
      } | ${fmt(r.storm_guest_addr_median)} | ${
        r.lag_share_max.toExponential(1)
      } |`,
    );
    console.error(lines[lines.length - 1]);
  }
  report.repeatability = rows;
  lines.push("");
}

if (only === "all" || only === "cost") {
  // Alternating rounds, order flipped every round: N=1 without, with
  // --insns, and with --insns-mem (the memory-access counter too).
  const costCases = cases.filter((c) =>
    ["minkernel-microvm", "unikraft", "osv", "synthetic"].includes(c.image) &&
    !c.params?.spin_ms?.startsWith("5")
  );
  const rows: Record<string, unknown>[] = [];
  lines.push(
    `## Cost of --insns: median boot_ms, N=1, ${rounds} alternating rounds`,
    "",
    "| system | without | --insns | difference (p) | --insns-mem | difference (p) |",
    "|---|---|---|---|---|---|",
  );
  for (const c of costCases) {
    const arms = {
      plain: [] as number[],
      insns: [] as number[],
      nomem: [] as number[],
    };
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0
        ? (["plain", "insns", "nomem"] as const)
        : (["nomem", "insns", "plain"] as const);
      for (const arm of order) {
        const rs = await batch(
          c,
          1,
          arm === "plain" ? false : arm === "insns" ? true : { mem: true },
        );
        arms[arm].push(...rs.map((r) => r.boot_ms!));
      }
    }
    const p1 = permutationTest(arms.insns, arms.plain, { seed: 1 });
    const p2 = permutationTest(arms.nomem, arms.plain, { seed: 1 });
    const m = (v: number[]) => median(v);
    const row = {
      system: c.label,
      plain_ms: m(arms.plain),
      insns_ms: m(arms.insns),
      nomem_ms: m(arms.nomem),
      p_insns: p1.p,
      p_nomem: p2.p,
    };
    rows.push(row);
    const d = (a: number) =>
      `${(a - row.plain_ms).toFixed(1)} ms, ${
        ((a / row.plain_ms - 1) * 100).toFixed(0)
      } %`;
    lines.push(
      `| ${c.label} | ${row.plain_ms.toFixed(1)} ms | ${
        row.insns_ms.toFixed(1)
      } ms | ${d(row.insns_ms)} (${p1.p.toFixed(3)}) | ${
        row.nomem_ms.toFixed(1)
      } ms | ${d(row.nomem_ms)} (${p2.p.toFixed(3)}) |`,
    );
    console.error(lines[lines.length - 1]);
  }
  report.cost = rows;
}

const md = lines.join("\n");
console.log(md);
const resDir = new URL("./results/", import.meta.url).pathname;
await Deno.mkdir(resDir, { recursive: true });
const file = join(
  resDir,
  `insns-${new Date().toISOString().slice(0, 10)}${quick ? "-quick" : ""}.json`,
);
await Deno.writeTextFile(
  file,
  JSON.stringify({ ...report, markdown: md }, null, 2) + "\n",
);
console.error(`wrote ${file} (runs under ${out})`);
