/**
 * Renders the dataset documentation (`docs/dataset.md`) from the schema, so
 * the document and the code cannot drift apart. `deno task dataset-doc`.
 *
 * @module
 */
import {
  type ColumnSpec,
  HOST_COLUMN,
  INSTANCE_COLUMNS,
  MEMORY_COLUMNS,
  SCHEMA_VERSION,
} from "./schema.ts";

function table(cols: readonly ColumnSpec[]): string {
  const rows = cols.map((c) =>
    `| \`${c.name}\` | ${c.type} | ${c.nullable ? "yes" : "no"} | ${
      c.doc.replaceAll("|", "\\|")
    } |`
  );
  return [
    "| column | Arrow type | null? | meaning, unit, when null |",
    "|---|---|---|---|",
    ...rows,
  ]
    .join("\n");
}

/**
 * The Markdown text of `docs/dataset.md`.
 *
 * @example
 * ```ts
 * import { datasetDoc } from "./doc.ts";
 * console.log(datasetDoc().startsWith("# Dataset")); // true
 * ```
 */
export function datasetDoc(): string {
  return `# Dataset format (schema version ${SCHEMA_VERSION})

Generated from \`launcher/schema.ts\` by \`deno task dataset-doc\`; do not edit by hand.

A run folder (\`data/runs/<run-id>/\` by default) holds:

- \`instances.arrow\` and \`instances.csv\`: one row per instance, appended as instances
  complete (rows are in completion order, not launch order: sort by \`instance\`).
- \`memory.arrow\` and \`memory.csv\`: whole-system memory sampled every 500 µs from
  /proc/meminfo by a worker thread (SCHED_FIFO when permitted). Samples start shortly
  before T_0 (negative \`t_ms\`: the baseline) and end when the last instance is reaped.
- \`run.json\`: the run record (its type: \`RunRecord\` in \`launcher/run_record.ts\`, shared by
  the writer and the loader): \`schema_version\`, \`run_id\`, \`status\` (\`partial\` until
  the run is finalised, and after an interruption or a write error, then with \`error\`;
  \`failed\` when it finished and no instance became ready, then with \`failure\`: \`reason\`
  (one line), the most common \`outcome\`, its \`count\` and \`first_error\`; \`complete\` otherwise),
  \`started_at\` / \`finished_at\` (ISO 8601), \`host\` (CPU model, cores, memory, kernel,
  hostname), \`accelerator\` (\`kind\` kvm | tcg, \`reason\`, probe times), \`qemu\` (path and
  version; null when argv is not QEMU), \`profile\` (name, class, path), \`image\` (path,
  sha256, bytes), \`argv\` (fully expanded), \`params\`, \`pattern\` (\`kind\` interval |
  back-to-back | parallel, \`interval_ms\`, \`parallelism\`), \`count\`, \`timeout_ms\` and
  \`timeout\` (\`ms\`, \`source\` flag | profile | estimate, \`reason\`: a batch's timeout is 3 × its
  estimated duration when that is longer than the profile's), \`teardown\`, \`ready\`,
  \`marks\`, \`spawn_mode\` (direct | prestart), \`release_thread\`, \`clock\`, \`toolkit\`
  (version, git commit), \`deno\` (version), \`memory_sampler\` (\`target_hz\`, \`achieved_hz\`,
  \`samples\`, \`worst_gap_ms\`, \`realtime\`, \`warning\`), \`wall_ms\`, \`steal_ms_while_booting\`
  (the host's steal time from /proc/stat, every CPU, 10 ms resolution, from T_0 until
  every boot had ended: the hypervisor's noise in the boot times; null where the host does
  not report it), \`t0_monotonic_ms\` (T_0 on the host's CLOCK_MONOTONIC, ms; every time
  column is ms after it), \`launcher\` (the
  launcher's own \`cpu_ms\`, exact over all its threads; \`cpu_user_ms\` / \`cpu_system_ms\`, the
  kernel's tick-sampled split of it; \`cpu_share_of_one_core\`; \`peak_rss_kib\`), \`totals\`
  (\`ready\`; \`failed\`: timeout, exited_before_ready, spawn_failed; \`interrupted\`;
  \`not_started\`), \`sweep\` (sweep id and cell, when run by a sweep).

The writer checks every row against the columns below before writing it (a missing
column, a null where the column cannot be null, a wrong type, an outcome outside the
list): a dataset the launcher writes always loads, whatever stopped it.

Both Arrow files are Arrow IPC **stream** format (schema message, one record batch per
append, end-of-stream marker when finalised); a file cut short by a crash still reads
back up to its last complete batch (\`tableFromIPC\` in apache-arrow, \`loadArrow\` /
\`fromArrow\` in arquero). CSV: RFC 4180, header line, null as an empty field.

All times are milliseconds on the system monotonic clock (\`clock_gettime(CLOCK_MONOTONIC)\`,
microsecond resolution), relative to T_0, the start of the measurement. Missing values
are null, never 0.

## \`instances\`

${table(INSTANCE_COLUMNS)}

A profile with named \`marks\` adds one column \`<mark>_ms\` (float64, nullable) per mark:
when that mark first matched a stdout line, ms after T_0.

## \`memory\`

${table(MEMORY_COLUMNS)}

## Multi-host storms (\`deno task sweep --slurm\`)

A storm folder (\`data/storms/<storm-id>/\`) is itself a run folder holding the merged
dataset, with every node's own run below it in \`nodes/<host>/<run-id>/\` (plus that node's
\`agent.json\`: clock offset, start instant, pre-flight) and the submission in
\`storm.json\`, \`job.sh\` and \`slurm-<job>.out\`. \`deno task cluster merge <dir>\` rebuilds
the merged files from the node runs (same bytes every time).

- \`instances\` and \`memory\` have one more column:

${table([HOST_COLUMN])}

- All times are on the common timeline: ms after the storm's one T_0, an absolute instant
  chosen by the submitting host; each node converts it to its own clock with its measured
  offset, so a node's own times need no shift (a cluster-wide cadence, \`--total\` with
  \`--interval\`, shifts node r by r·Δ). \`concurrency_at_start\` counts the instances
  booting on the same host.
- \`outcome\` \`lost\`: the host died or stopped reporting before the instance's row was
  written; \`error\` says why (Slurm's view included); \`t_s_ms\` and the other times are null.
- \`memory\` rows are each host's whole-system samples (hosts sharing one kernel, as on the
  local test cluster, sample the same memory).
- \`hosts.csv\`: one row per host (host key, rank, its run, status, ready / failed / lost,
  accelerator, QEMU version, boot id, clock offset, its uncertainty and drift, start
  lateness, time to its last ready instance, why instances were lost); the same records are
  in \`run.json\` → \`multi_host.hosts\`, with \`multi_host.skew\` (\`start_skew_ms\`: spread of
  the hosts' first-release lateness; \`start_skew_same_clock_ms\`: the true spread when every
  host shares one kernel and clock) and \`totals.lost\`.

## Versions

- 3 (with this toolkit's launcher): outcome \`not_started\` for instances the launcher
  stopped before starting them (null times, \`pid\` and \`rss_peak_kib\`; version 2 wrote
  \`interrupted\` with null times and the pre-started shell's RSS); \`totals\` gains
  \`interrupted\` and \`not_started\` (\`failed\` no longer counts them); \`status\` may be
  \`failed\`; \`error\` holds the first and last stderr lines; boot-work columns
  (\`insns_*\`, \`guest_*_ready\`, \`cr3_writes_ready\`, \`syscalls_ready\`,
  \`mem_accesses_ready\`; null without \`--insns\`), \`pss_kib\`, \`uss_kib\`,
  \`cpu_ready_ms\`; memory gains \`run_used_kib\` (the run's cgroup) and \`used_kib\` may be
  null (read every 20th sample); outcome \`lost\` and a \`host\` column in merged
  multi-host datasets.
- 2: phase-mode columns \`vmm_ready_ms\`, \`t_k_ms\`, \`vmm_init_ms\`, \`guest_boot_ms\` (null
  outside phase mode); \`t_s_ms\` and \`concurrency_at_start\` may be null for instances never
  started because the launcher was interrupted. Version 1 datasets still load (the analysis
  fills the new columns with null).
- 1: first version.
`;
}
