/**
 * One merged dataset from a storm's node runs: every node's instances and
 * memory samples with a `host` column, their times moved onto the common
 * timeline (ms after the storm's T_0), instances a dead node never
 * reported added as `lost` with the reason, and per-host run records
 * (`hosts.csv`, `run.json` → `multi_host.hosts`: host key, accelerator,
 * QEMU version, clock offset and its uncertainty, start lateness).
 *
 * The storm folder itself becomes a run folder (`run.json`,
 * `instances.*`, `memory.*`, `hosts.csv`) that every analysis loads; the
 * node runs stay below it in `nodes/<host>/`. The merge reads only those
 * node folders and `storm.json` (which hosts were expected, why one was
 * lost) and writes the same bytes every time: `deno task cluster merge DIR`
 * redoes it.
 *
 * @module
 */
import { join, relative } from "node:path";
import {
  ARROW_EOS,
  encodeBatch,
  encodeSchema,
} from "../dataset/arrow_codec.ts";
import { csvHeader, csvLines } from "../dataset/csv_codec.ts";
import { RELEASE_LEAD_MS } from "../launcher/launch.ts";
import {
  type ColumnSpec,
  HOST_COLUMN,
  INSTANCE_COLUMNS,
  MEMORY_COLUMNS,
  SCHEMA_VERSION,
} from "../dataset/schema.ts";
import { loadRun } from "../analysis/load.ts";
import type { AgentRecord } from "./agent.ts";
import {
  type HostOutcome,
  readStormSpec,
  type StormSpec,
} from "./storm_spec.ts";

/** Instance columns that are instants (moved onto the common timeline); the others are durations or values. */
export const INSTANT_COLUMNS: readonly string[] = [
  "scheduled_ms",
  "t_s_ms",
  "first_output_ms",
  "ready_ms",
  "exit_ms",
  "boot_end_ms",
  "vmm_ready_ms",
  "t_k_ms",
];

/** One host's part, as read from its node folder. */
export interface HostInput {
  /** Host (Slurm node name). */
  host: string;
  /** Slurm task rank of its launcher (SLURM_PROCID). */
  rank: number;
  /** The node agent's agent.json (null when the node wrote none). */
  agent: AgentRecord | null;
  /** The node run's run.json (null when the node wrote none). */
  record: Record<string, unknown> | null;
  /** Run folder relative to the storm folder. */
  runDir: string | null;
  /** The node run's instance rows (times on the node's own T_0). */
  instances: Record<string, unknown>[];
  /** The node run's memory samples. */
  memory: Record<string, unknown>[];
  /** Instances this host was to boot. */
  count: number;
  /** What the submitter saw (null when storm.json has nothing on it). */
  outcome: HostOutcome | null;
}

/** The per-host record of a merged dataset. */
export interface MergedHost {
  /** Host (Slurm node name). */
  host: string;
  /** Slurm task rank of its launcher (SLURM_PROCID). */
  rank: number;
  /** Its node run (under nodes/<host>/). */
  run_id: string | null;
  /** Its node run folder, relative to the storm folder. */
  run_dir: string | null;
  /** complete, partial, or lost (no run at all). */
  status: "complete" | "partial" | "lost";
  /** Instances it was to boot. */
  count: number;
  /** Instances that became ready. */
  ready: number;
  /** Instances with another outcome it recorded. */
  failed: number;
  /** Instances it never reported (outcome lost). */
  lost: number;
  /** kvm or tcg, per host. */
  accelerator: string | null;
  /** QEMU version on the host. */
  qemu_version: string | null;
  /** Kernel boot id: hosts sharing one share a clock and memory. */
  boot_id: string | null;
  /** Submitter clock minus host clock, measured by round trips before the storm, ms. */
  clock_offset_ms: number | null;
  /** Half the shortest round trip: the true offset is within clock_offset_ms ± this, ms. */
  clock_uncertainty_ms: number | null;
  /** Shortest round trip, ms. */
  clock_rtt_min_ms: number | null;
  /** Offset measured after the storm minus before, ms. */
  clock_drift_ms: number | null;
  /** Test only: ms added to the host's clock (0 on real hosts). */
  injected_offset_ms: number;
  /** Where this host's T_0 sits on the common timeline (its start offset), ms. */
  shift_ms: number;
  /** T_s of its first instance minus when it was due, on its own clock, ms. */
  start_late_ms: number | null;
  /** How long before its start the host knew T_0, ms (negative: too late). */
  t0_slack_ms: number | null;
  /** Time to its last ready instance, ms after T_0 (common timeline). */
  last_ready_ms: number | null;
  /** Why instances were lost (null when none were). */
  lost_reason: string | null;
}

/** How far apart the hosts started. */
export interface StartSkew {
  /** max − min of start_late_ms over hosts: the skew on the common timeline, ms. */
  start_skew_ms: number | null;
  /**
   * Hosts sharing one kernel (one boot_id) share one clock: the true skew of
   * their starts (offset errors included), ms; null unless every host shares one.
   */
  start_skew_same_clock_ms: number | null;
  /** Hosts merged. */
  hosts: number;
}

/** What {@link mergeStorm} wrote. */
export interface MergeResult {
  /** The storm folder (now also a run folder). */
  dir: string;
  /** complete when every host's run is complete and none lost instances. */
  status: "complete" | "partial";
  /** Instance rows of the merged dataset (lost ones included). */
  rows: number;
  /** One record per host, by rank. */
  hosts: MergedHost[];
  /** How far apart the hosts started. */
  skew: StartSkew;
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** The instant columns of a run (base ones plus `<mark>_ms`). */
function instantsOf(record: Record<string, unknown> | null): string[] {
  const marks = Object.keys((record?.marks as Record<string, unknown>) ?? {});
  return [...INSTANT_COLUMNS, ...marks.map((m) => `${m}_ms`)];
}

/**
 * Merge hosts' rows (pure): shift instants by each host's start offset,
 * add `host`, add `lost` rows for instances a host never reported, sort by
 * rank then instance (memory: rank then time), and summarise each host and
 * the start skew.
 *
 * @example
 * ```ts
 * import { type HostInput, mergeRows } from "./merge.ts";
 * const host = (name: string, rank: number, instances: Record<string, unknown>[]): HostInput => ({
 *   host: name, rank, agent: null, record: { status: "complete" }, runDir: null,
 *   instances, memory: [], count: 2, outcome: null,
 * });
 * const m = mergeRows([
 *   host("node2", 1, [{ instance: 0, outcome: "ready", ready_ms: 40 }]), // instance 1 never reported
 *   host("node1", 0, [{ instance: 1, outcome: "ready", ready_ms: 35 }, { instance: 0, outcome: "ready", ready_ms: 30 }]),
 * ]);
 * console.log(m.instances.map((r) => `${r.host}#${r.instance} ${r.outcome}`));
 * // ["node1#0 ready", "node1#1 ready", "node2#0 ready", "node2#1 lost"]
 * console.log(m.hosts.map((h) => `${h.host} ${h.status} ${h.lost}`)); // ["node1 complete 0", "node2 partial 1"]
 * ```
 */
export function mergeRows(inputs: readonly HostInput[]): {
  instances: Record<string, unknown>[];
  memory: Record<string, unknown>[];
  hosts: MergedHost[];
  skew: StartSkew;
} {
  const sorted = [...inputs].sort((a, b) => a.rank - b.rank);
  const instances: Record<string, unknown>[] = [];
  const memory: Record<string, unknown>[] = [];
  const hosts: MergedHost[] = [];
  const sameClock: number[] = [];
  for (const h of sorted) {
    const shift = h.agent?.share.start_offset_ms ?? 0;
    const instants = instantsOf(h.record);
    const seen = new Set<number>();
    const rows = [...h.instances].sort((a, b) =>
      Number(a.instance) - Number(b.instance)
    );
    let ready = 0, failed = 0, lastReady: number | null = null;
    for (const r of rows) {
      const out: Record<string, unknown> = { ...r };
      for (const c of instants) {
        const v = num(out[c]);
        if (v !== null) out[c] = v + shift;
      }
      out.host = h.host;
      seen.add(Number(r.instance));
      if (out.outcome === "ready") {
        ready++;
        const t = num(out.ready_ms);
        if (t !== null) lastReady = Math.max(lastReady ?? -Infinity, t);
      } else failed++;
      instances.push(out);
    }
    const reason = h.outcome?.reason ??
      (h.agent
        ? `${h.host} ended at state "${h.agent.state}" without reporting these instances`
        : `${h.host} never wrote its run`);
    let lost = 0;
    for (let i = 0; i < h.count; i++) {
      if (seen.has(i)) continue;
      lost++;
      const row: Record<string, unknown> = {};
      for (const c of INSTANCE_COLUMNS) row[c.name] = null;
      Object.assign(row, {
        instance: i,
        outcome: "lost",
        output_bytes: 0,
        error: reason,
        host: h.host,
      });
      instances.push(row);
    }
    for (const m of h.memory) {
      memory.push({ ...m, t_ms: Number(m.t_ms) + shift, host: h.host });
    }
    // Lateness of the first instance against when it was due (its own T_0 clock).
    const first = rows.find((r) =>
      Number(r.instance) === 0 && num(r.t_s_ms) !== null
    );
    const spawn = h.record?.spawn_mode;
    const due = first
      ? num(first.scheduled_ms) ??
        (spawn === "prestart" || spawn === "fork" ? RELEASE_LEAD_MS : 0)
      : null;
    const late = first && due !== null ? Number(first.t_s_ms) - due : null;
    if (late !== null && h.agent?.t0) {
      sameClock.push(
        h.agent.t0.local.node_monotonic_ms - h.agent.t0.storm_ms - shift + late,
      );
    }
    const acc = h.record?.accelerator as { kind?: string } | undefined;
    const qemu = h.record?.qemu as { version?: string } | undefined;
    const before = h.agent?.clock.before ?? null;
    const after = h.agent?.clock.after ?? null;
    const complete = h.record?.status === "complete" && lost === 0;
    hosts.push({
      host: h.host,
      rank: h.rank,
      run_id: (h.record?.run_id as string) ?? null,
      run_dir: h.runDir,
      status: h.record === null ? "lost" : complete ? "complete" : "partial",
      count: h.count,
      ready,
      failed,
      lost,
      accelerator: acc?.kind ?? null,
      qemu_version: qemu?.version ?? null,
      boot_id: h.agent?.boot_id ?? null,
      clock_offset_ms: before?.offset_ms ?? null,
      clock_uncertainty_ms: before?.uncertainty_ms ?? null,
      clock_rtt_min_ms: before?.rtt_min_ms ?? null,
      clock_drift_ms: before && after
        ? after.offset_ms - before.offset_ms
        : null,
      injected_offset_ms: h.agent?.clock.injected_offset_ms ?? 0,
      shift_ms: shift,
      start_late_ms: late,
      t0_slack_ms: h.agent?.t0?.slack_ms ?? null,
      last_ready_ms: lastReady,
      lost_reason: lost > 0 ? reason : null,
    });
  }
  const lates = hosts.map((h) => h.start_late_ms).filter((x): x is number =>
    x !== null
  );
  const boots = new Set(hosts.map((h) => h.boot_id));
  return {
    instances,
    memory,
    hosts,
    skew: {
      start_skew_ms: lates.length >= 2
        ? Math.max(...lates) - Math.min(...lates)
        : null,
      start_skew_same_clock_ms: boots.size === 1 && !boots.has(null) &&
          sameClock.length >= 2 && sameClock.length === hosts.length
        ? Math.max(...sameClock) - Math.min(...sameClock)
        : null,
      hosts: hosts.length,
    },
  };
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(Deno.readTextFileSync(path)) as T;
  } catch {
    return null;
  }
}

function runFolder(nodeDir: string, agent: AgentRecord | null): string | null {
  if (agent?.run_dir) return join(nodeDir, agent.run_dir);
  try {
    const dirs = [...Deno.readDirSync(nodeDir)].filter((e) => e.isDirectory)
      .map((e) => e.name).sort();
    for (const d of dirs) {
      try {
        Deno.statSync(join(nodeDir, d, "run.json"));
        return join(nodeDir, d);
      } catch {
        // not a run
      }
    }
  } catch {
    // no node folder
  }
  return null;
}

/** Read every host's part of a storm folder (node runs and storm.json). */
export async function readHosts(
  dir: string,
  spec: StormSpec,
): Promise<HostInput[]> {
  const names = new Set(Object.keys(spec.hosts));
  try {
    for (const e of Deno.readDirSync(join(dir, "nodes"))) {
      if (e.isDirectory) names.add(e.name);
    }
  } catch {
    // no node folder at all
  }
  const out: HostInput[] = [];
  for (const host of names) {
    const nodeDir = join(dir, "nodes", host);
    const agent = readJson<AgentRecord>(join(nodeDir, "agent.json"));
    const rank = agent?.rank ?? spec.hosts[host]?.rank ?? out.length;
    const run = runFolder(nodeDir, agent);
    let record: Record<string, unknown> | null = null;
    let instances: Record<string, unknown>[] = [];
    let memory: Record<string, unknown>[] = [];
    if (run) {
      const r = await loadRun(run, { salvage: true });
      record = r.record as Record<string, unknown>;
      const strip = (o: Record<string, unknown>) => {
        delete o.run_id;
        delete o.image;
        delete o.count_n;
        return o;
      };
      instances = (r.instances.objects() as Record<string, unknown>[]).map(
        strip,
      );
      memory = (r.memory.objects() as Record<string, unknown>[]).map(strip);
    }
    out.push({
      host,
      rank,
      agent,
      record,
      runDir: run ? relative(dir, run) : null,
      instances,
      memory,
      count: agent?.share.count ?? spec.shares[rank]?.count ?? 0,
      outcome: spec.hosts[host] ?? null,
    });
  }
  return out;
}

function writeTable(
  dir: string,
  stem: string,
  columns: readonly ColumnSpec[],
  rows: readonly Record<string, unknown>[],
): void {
  const chunks: Uint8Array[] = [encodeSchema(columns)];
  for (let i = 0; i < rows.length; i += 4096) {
    chunks.push(encodeBatch(columns, rows.slice(i, i + 4096)));
  }
  chunks.push(ARROW_EOS);
  const size = chunks.reduce((s, c) => s + c.length, 0);
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) (bytes.set(c, off), off += c.length);
  Deno.writeFileSync(join(dir, `${stem}.arrow`), bytes);
  Deno.writeTextFileSync(
    join(dir, `${stem}.csv`),
    csvHeader(columns) + csvLines(columns, rows),
  );
}

/** Columns of `hosts.csv`. */
export const HOSTS_COLUMNS: readonly ColumnSpec[] = [
  ["host", "utf8", "Host (Slurm node name)."],
  ["rank", "int32", "Slurm task rank of its launcher (SLURM_PROCID)."],
  ["run_id", "utf8", "Its node run (under nodes/<host>/)."],
  ["status", "utf8", "complete | partial | lost (no run at all)."],
  ["count", "int32", "Instances it was to boot."],
  ["ready", "int32", "Instances that became ready."],
  ["failed", "int32", "Instances with another outcome it recorded."],
  ["lost", "int32", "Instances it never reported (outcome lost)."],
  ["accelerator", "utf8", "kvm | tcg, per host."],
  ["qemu_version", "utf8", "QEMU version on the host."],
  [
    "boot_id",
    "utf8",
    "Kernel boot id: hosts sharing one share a clock and memory.",
  ],
  [
    "clock_offset_ms",
    "float64",
    "Submitter clock minus host clock, measured by round trips before the storm, ms.",
  ],
  [
    "clock_uncertainty_ms",
    "float64",
    "Half the shortest round trip: the true offset is within clock_offset_ms ± this, ms.",
  ],
  ["clock_rtt_min_ms", "float64", "Shortest round trip, ms."],
  [
    "clock_drift_ms",
    "float64",
    "Offset measured after the storm minus before, ms.",
  ],
  [
    "injected_offset_ms",
    "float64",
    "Test only: ms added to the host's clock (0 on real hosts).",
  ],
  [
    "shift_ms",
    "float64",
    "Where the host's T_0 sits on the common timeline (its start offset), ms.",
  ],
  [
    "start_late_ms",
    "float64",
    "T_s of its first instance minus when it was due, ms.",
  ],
  [
    "t0_slack_ms",
    "float64",
    "How long before its start the host knew T_0, ms (negative: too late).",
  ],
  ["last_ready_ms", "float64", "Its last ready instance, ms after T_0."],
  ["lost_reason", "utf8", "Why instances were lost."],
].map(([name, type, doc]) => ({
  name,
  type: type as ColumnSpec["type"],
  nullable: true,
  doc,
}));

/**
 * Merge the node runs of a storm folder into the folder's own dataset
 * (`run.json`, `instances.*`, `memory.*`, `hosts.csv`). Reproducible: the
 * same node runs give the same bytes.
 *
 * @example
 * ```ts ignore
 * // needs a storm folder written by deno task sweep --slurm (storm.json, nodes/<host>/…)
 * const m = await mergeStorm("data/storms/20261201T120000Z-abcdef");
 * console.log(m.status, m.skew.start_skew_ms);
 * ```
 */
export async function mergeStorm(dir: string): Promise<MergeResult> {
  const spec = readStormSpec(dir);
  const inputs = await readHosts(dir, spec);
  if (inputs.length === 0) {
    throw new Error(
      `Cannot merge ${dir}: no node folder under nodes/ and no host in storm.json; the storm never started`,
    );
  }
  const m = mergeRows(inputs);
  const withRecord = inputs.filter((h) => h.record !== null).sort((a, b) =>
    a.rank - b.rank
  );
  const first = withRecord[0]?.record ?? {};
  const marks = Object.keys((first.marks as Record<string, unknown>) ?? {});
  const instanceColumns: ColumnSpec[] = [
    ...INSTANCE_COLUMNS,
    ...marks.map((name): ColumnSpec => ({
      name: `${name}_ms`,
      type: "float64",
      nullable: true,
      doc: `When the mark "${name}" first matched, ms after T_0.`,
    })),
    HOST_COLUMN,
  ];
  const lost = m.hosts.reduce((s, h) => s + h.lost, 0);
  const ready = m.hosts.reduce((s, h) => s + h.ready, 0);
  const complete = m.hosts.every((h) => h.status === "complete");
  const status: "complete" | "partial" = complete ? "complete" : "partial";
  const uniq = <T>(xs: T[]) => [...new Set(xs)];
  const accs = uniq(m.hosts.map((h) => h.accelerator));
  const dates = (k: string) =>
    withRecord.map((h) => h.record![k]).filter((x): x is string =>
      typeof x === "string"
    ).sort();
  const record: Record<string, unknown> = {
    ...first,
    schema_version: SCHEMA_VERSION,
    run_id: spec.storm_id,
    status,
    started_at: dates("started_at")[0] ?? null,
    finished_at: dates("finished_at").slice(-1)[0] ?? null,
    host: {
      hostname: m.hosts.map((h) => h.host).join(","),
      hosts: m.hosts.length,
    },
    accelerator: {
      ...(first.accelerator as Record<string, unknown> ?? {}),
      kind: accs.length === 1 ? accs[0] : null,
      reason: accs.length === 1
        ? (first.accelerator as { reason?: string })?.reason ?? null
        : `per host: ${
          m.hosts.map((h) => `${h.host} ${h.accelerator}`).join(", ")
        }`,
    },
    pattern: {
      ...(first.pattern as Record<string, unknown> ?? {}),
      storm: spec.pattern,
      split: spec.split,
    },
    count: m.instances.length,
    memory_sampler: null,
    wall_ms: Math.max(
      0,
      ...withRecord.map((h) =>
        (num(h.record!.wall_ms) ?? 0) + (h.agent?.share.start_offset_ms ?? 0)
      ),
    ),
    launcher: null,
    totals: { ready, failed: m.instances.length - ready - lost, lost },
    multi_host: {
      storm_id: spec.storm_id,
      slurm_job_id: spec.slurm.job_id,
      partition: spec.partition,
      nodes: spec.nodes,
      t0_submitter_ms:
        withRecord.find((h) => h.agent?.t0)?.agent?.t0?.storm_ms ??
          null,
      timeline: "ms after the storm's T_0 (the submitter's clock), every host",
      hosts: m.hosts,
      skew: m.skew,
    },
  };
  delete record.sweep;
  writeTable(dir, "instances", instanceColumns, m.instances);
  writeTable(dir, "memory", [...MEMORY_COLUMNS, HOST_COLUMN], m.memory);
  Deno.writeTextFileSync(
    join(dir, "hosts.csv"),
    csvHeader(HOSTS_COLUMNS) +
      csvLines(HOSTS_COLUMNS, m.hosts as unknown as Record<string, unknown>[]),
  );
  const path = join(dir, "run.json");
  Deno.writeTextFileSync(path + ".tmp", JSON.stringify(record, null, 2) + "\n");
  Deno.renameSync(path + ".tmp", path);
  return {
    dir,
    status,
    rows: m.instances.length,
    hosts: m.hosts,
    skew: m.skew,
  };
}
