/**
 * `deno task sweep`: the shell front end. One cell runs as a single batch
 * (run folder under data/runs/); a grid, a plan file or no arguments run a
 * sweep (sweep folder under data/sweeps/).
 *
 * @module
 */
import { join, resolve } from "node:path";
import {
  type BatchArgs,
  type Command,
  EXIT_INTERRUPTED,
  EXIT_NOTHING_READY,
  HELP,
  parseCommand,
  UsageError,
} from "../launcher/sweep_args.ts";
import { type Accelerator, chooseAccelerator } from "../launcher/accel.ts";
import { assertOutDir } from "../dataset/writer.ts";
import { ensureDebianPackages } from "../images/deps.ts";
import { ensureImage } from "../images/ensure.ts";
import { ensureOpenFiles } from "../launcher/limits.ts";
import { type Pattern, patternLabel } from "../launcher/pattern.ts";
import {
  loadProfile,
  type Profile,
  ProfileError,
  resolveParams,
  withImageFile,
} from "../launcher/profile.ts";
import { runBatch } from "../launcher/run_batch.ts";
import { which } from "../launcher/runner.ts";
import type { InstanceRow } from "../dataset/schema.ts";
import { batchCounter, progressReporter } from "../launcher/progress.ts";
import { holdReaper, ownerEnv } from "../launcher/reaper.ts";
import { medianOrNull, summaryText } from "../launcher/summary.ts";
import {
  knownCost,
  loadSweepState,
  memorySampling,
  newSweep,
  probeImage,
  runSweep,
  summarizeCell,
  type SweepState,
} from "../launcher/sweep.ts";
import {
  type Cell,
  chooseTimeout,
  estimateCell,
  formatDuration,
  type ImageCost,
  preflightCell,
  type TimeoutPlan,
} from "../launcher/sweep_plan.ts";
import { availableKib } from "../launcher/sweep.ts";
import { withoutProbes } from "../analysis/figures/dataset_figures.ts";
import { writeFigures, writeReport } from "../analysis/write_figures.ts";
import { loadRuns } from "../analysis/load.ts";
import { fileURLToPath } from "node:url";
import {
  ensureInsnsPlugin,
  InsnsError,
  selfTestPlugin,
} from "../launcher/insns/mod.ts";

/** One line describing a finished batch. */
export function batchLine(
  name: string,
  pattern: Pattern,
  rows: InstanceRow[],
): string {
  const ready = rows.filter((r) => r.outcome === "ready");
  const boots = ready.map((r) => r.boot_ms!);
  const med = medianOrNull(boots);
  const stopped = (o: string) => o === "interrupted" || o === "not_started";
  const failed =
    rows.filter((r) => r.outcome !== "ready" && !stopped(r.outcome)).length;
  const interrupted = rows.filter((r) => r.outcome === "interrupted").length;
  const notStarted = rows.filter((r) => r.outcome === "not_started").length;
  const outcomes = [
    ...new Set(
      rows.filter((r) => r.outcome !== "ready" && !stopped(r.outcome)).map((
        r,
      ) => r.outcome),
    ),
  ];
  return `${name} ${
    patternLabel(pattern)
  } N=${rows.length}: ${ready.length} ready, ${failed} failed${
    outcomes.length ? ` (${outcomes.join(", ")})` : ""
  }${interrupted ? `, ${interrupted} interrupted` : ""}${
    notStarted ? `, ${notStarted} not started` : ""
  }${
    med !== null
      ? `, boot_ms min/median/max ${Math.min(...boots).toFixed(1)}/${
        med.toFixed(1)
      }/${Math.max(...boots).toFixed(1)}`
      : ""
  }`;
}

async function prepare(image: string, imageFile?: string): Promise<void> {
  const loaded = await loadProfile(image);
  const profile = imageFile ? withImageFile(loaded, imageFile) : loaded;
  if (profile.argv[0].startsWith("qemu-system")) {
    await ensureDebianPackages(["qemu-system-x86"], {
      why: `boot "${profile.name}"`,
    });
  }
  await ensureDebianPackages(["binutils"], {
    why: "build the minkernel (the accelerator probe boots it)",
  });
  await ensureImage(await loadProfile("minkernel"), { env: ownerEnv() });
  await ensureImage(profile, { env: ownerEnv() });
}

/** `--out` must be a folder (or a path where one can be created): a usage error otherwise. */
function checkOut(out: string | null | undefined): void {
  if (!out) return;
  try {
    assertOutDir(out);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** What a single batch will do: its cost estimate, pre-flight and timeout. */
interface BatchPlan {
  cost: ImageCost;
  timeout: TimeoutPlan;
  note: string;
}

/**
 * Plan a single batch as a sweep plans a cell: the cost of one boot (the
 * probe cache, else a probe boot when the storm is large enough for the
 * estimate to matter, else the profile's class), the memory pre-flight
 * (refused unless --force) and the timeout (3 × the estimate when longer
 * than the profile's).
 */
async function planBatch(
  args: BatchArgs,
  profile: Profile,
  accel: Accelerator | "auto" | "kvm" | "tcg",
  signal: AbortSignal,
): Promise<BatchPlan> {
  const cell: Cell = {
    id: "batch",
    image: args.image,
    count: args.count,
    pattern: args.pattern,
    params: args.params,
    repeat: 0,
  };
  const cores = navigator.hardwareConcurrency;
  let cost = await knownCost(cell);
  if (
    (cost.source === "profile" || cost.contendedBootMs === undefined) &&
    typeof accel === "object" &&
    3 * estimateCell(cell, cost, { cores }).seconds * 1000 >
      (args.timeoutMs ?? profile.timeoutMs) / 2
  ) {
    const tmp = await Deno.makeTempDir({ prefix: "bootstorm-probe-" });
    try {
      cost = await probeImage(args.image, args.params, {
        prepare: (p) => ensureImage(p, { env: ownerEnv() }),
        accel,
        imageFile: args.imageFile,
        outDir: tmp,
        signal,
        onNote: (m) => console.error(`  ${m}`),
      }) ?? cost;
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  }
  const est = estimateCell(cell, cost, { cores });
  const avail = availableKib();
  const pre = preflightCell(cell, est, { availableKib: avail });
  if (!pre.ok && !args.force) {
    throw new UsageError(
      pre.message!.replace(/^Cell batch /, `Batch `),
    );
  }
  const fds = ensureOpenFiles(est.concurrency);
  const timeout = chooseTimeout({
    flagMs: args.timeoutMs,
    profileMs: profile.timeoutMs,
    estimateSeconds: est.worstSeconds ?? est.seconds,
  });
  const mib = (k: number) => Math.round(k / 1024);
  const note = [
    `estimate ${formatDuration(est.seconds)} (${
      cost.source === "probe"
        ? `one boot ${cost.bootMs.toFixed(0)} ms alone on this host${
          cost.contendedBootMs !== undefined
            ? `, ${cost.contendedBootMs.toFixed(0)} ms each with ${
              2 * cores
            } at once`
            : ""
        }`
        : `about ${cost.bootMs} ms per boot for its class, not probed`
    }, ${args.count} instances on ${cores} cores), peak memory about ${
      mib(est.peakKib)
    } MiB of ${mib(avail)} MiB available${
      pre.ok ? "" : " (over the pre-flight, run with --force)"
    }`,
    `timeout ${
      formatDuration(timeout.ms / 1000)
    } per instance: ${timeout.reason}`,
    ...(fds.ok ? [] : [
      `open-files limit ${fds.soft} < ${fds.needed} needed; spawns past it will be recorded as spawn_failed (raise it with ulimit -n)`,
    ]),
  ].join("\n  ");
  return { cost, timeout, note };
}

async function runOneBatch(
  args: BatchArgs,
  signal: AbortSignal,
): Promise<number> {
  checkOut(args.out);
  // Bad params are refused before anything is built or booted.
  resolveParams(await loadProfile(args.image), args.params);
  await prepare(args.image, args.imageFile);
  const loaded = await loadProfile(args.image);
  const profile = args.imageFile
    ? withImageFile(loaded, args.imageFile)
    : loaded;
  const enc = new TextEncoder();
  const counter = Deno.stderr.isTerminal()
    ? batchCounter(args.count, {
      write: (s) => Deno.stderr.writeSync(enc.encode(s)),
    })
    : null;
  console.error(
    `bootstorm: ${profile.name}, ${
      patternLabel(args.pattern)
    }, N=${args.count}`,
  );
  // The accelerator once, so that a probe boot and the batch use the same.
  const argv0 = which(profile.argv[0]);
  const accel = profile.argv.includes("${accel}") && argv0 !== null
    ? await chooseAccelerator(args.accel, {
      qemu: argv0,
      kernel: resolve(
        new URL("../build/minkernel/minkernel.elf", import.meta.url).pathname,
      ),
    })
    : args.accel;
  const plan = await planBatch(args, profile, accel, signal);
  console.error(`  ${plan.note}`);
  const { runDir, record, result } = await runBatch(profile, {
    count: args.count,
    pattern: args.pattern,
    outDir: args.out,
    accel,
    params: args.params,
    timeoutMs: plan.timeout.ms,
    timeoutReason: {
      source: plan.timeout.source,
      reason: plan.timeout.reason,
    },
    graceMs: args.graceMs,
    spawnMode: args.spawnMode,
    phases: args.phases,
    insns: args.insns,
    ...memorySampling(args.memorySource, args.memoryQuietKib),
    signal,
    onEvent: counter?.onEvent,
  });
  if (counter) {
    counter.finish();
    console.error("");
  }
  const acc = record.accelerator as { kind: string | null; reason: string };
  console.error(`  accelerator: ${acc.kind ?? "n/a"} (${acc.reason})`);
  console.error(
    `  ${batchLine(profile.name, args.pattern, result.rows)}${
      result.interrupted ? " [interrupted: partial dataset]" : ""
    }`,
  );
  console.log(runDir);
  if (result.interrupted) return EXIT_INTERRUPTED;
  if (record.failure) {
    console.error(`bootstorm: ${record.failure.reason}`);
    return EXIT_NOTHING_READY;
  }
  return 0;
}

async function dryRun(
  cells: Cell[],
  note: string,
  force: boolean,
): Promise<number> {
  console.log(`Plan: ${cells.length} cells. ${note}`);
  const avail = availableKib();
  let total = 0, peak = 0;
  const lines: string[][] = [[
    "cell",
    "image",
    "pattern",
    "N",
    "est. time",
    "est. peak MiB",
    "cost from",
    "pre-flight",
  ]];
  for (const c of cells) {
    let cost;
    try {
      cost = await knownCost(c);
    } catch (e) {
      lines.push([
        c.id,
        c.image,
        patternLabel(c.pattern),
        String(c.count),
        "–",
        "–",
        "–",
        (e as Error).message,
      ]);
      continue;
    }
    const est = estimateCell(c, cost, { cores: navigator.hardwareConcurrency });
    const pre = preflightCell(c, est, { availableKib: avail });
    total += est.seconds;
    peak = Math.max(peak, est.peakKib);
    lines.push([
      c.id,
      c.image +
      (Object.keys(c.params).length ? ` ${JSON.stringify(c.params)}` : ""),
      patternLabel(c.pattern),
      String(c.count),
      formatDuration(est.seconds),
      String(Math.round(est.peakKib / 1024)),
      cost.source,
      pre.ok
        ? "ok"
        : force
        ? "over memory (forced)"
        : `refused: largest N that fits ${pre.largestN}`,
    ]);
  }
  const widths = lines[0].map((_, i) =>
    Math.max(...lines.map((l) => l[i].length))
  );
  for (const l of lines) {
    console.log(l.map((c, i) => c.padEnd(widths[i])).join("  "));
  }
  console.log(
    `Estimated total: ${
      formatDuration(total)
    } (plus one probe boot per image); peak ${Math.round(peak / 1024)} MiB of ${
      Math.round(avail / 1024)
    } MiB available. Nothing was started.`,
  );
  return 0;
}

async function runSweepCommand(
  c: Extract<Command, { kind: "sweep" }>,
  signal: AbortSignal,
): Promise<number> {
  let state: SweepState;
  let dir: string;
  checkOut(c.out);
  if (c.resume) {
    dir = resolve(c.resume);
    state = loadSweepState(dir);
    const done = state.cells.filter((x) => x.state === "done").length;
    console.error(
      `bootstorm: resuming ${dir}: ${done}/${state.cells.length} cells done, running the rest`,
    );
  } else {
    if (c.dryRun) return await dryRun(c.cells, c.note, c.force);
    state = newSweep(c.cells, {
      accel: c.accel,
      timeoutMs: c.timeoutMs,
      force: c.force,
      note: c.note,
      insns: c.insns,
      imageFile: c.imageFile,
      memorySource: c.memorySource,
      memoryQuietKib: c.memoryQuietKib,
    });
    dir = resolve(c.out ?? "data/sweeps", state.sweep_id);
    console.error(`bootstorm: ${c.note}`);
  }
  // Unknown images, absent image files and bad params fail before anything starts.
  for (const cell of state.cells.filter((x) => x.state !== "done")) {
    const p = await loadProfile(cell.image);
    resolveParams(p, cell.params);
    if (state.options.imageFile) withImageFile(p, state.options.imageFile);
  }
  await prepare("minkernel");
  if (state.options.insns) {
    // Refuse a sweep that cannot count before its first cell runs.
    await checkInsns();
  }
  let total = 0;
  for (const cell of state.cells) {
    if (cell.state === "done") continue;
    try {
      total += estimateCell(cell, await knownCost(cell), {
        cores: navigator.hardwareConcurrency,
      }).seconds;
    } catch { /* reported when the cell runs */ }
  }
  console.error(
    `bootstorm: estimated ${
      formatDuration(total)
    } for ${state.cells.length} cells → ${dir}`,
  );
  state = await runSweep(state, dir, {
    signal,
    onEvent: progressReporter(),
    prepare: (p) => ensureImage(p, { env: ownerEnv() }),
  });
  console.error("\n" + summaryText(state.cells.map(summarizeCell)));
  console.error(`summary: ${join(dir, "summary.md")}`);
  if (!signal.aborted && state.cells.some((x) => x.run_dir)) {
    await figuresAndReport(dir);
  }
  console.log(dir);
  if (signal.aborted) return EXIT_INTERRUPTED;
  return sweepExitCode(state);
}

/**
 * Exit status of a finished sweep: 1 when a cell failed with an error, 3
 * when a cell ran and no instance became ready (or every cell was refused by
 * the pre-flight), else 0; the reason goes to stderr.
 */
export function sweepExitCode(state: SweepState): number {
  const errored = state.cells.filter((x) => x.state === "failed" && !x.failure);
  const nothing = state.cells.filter((x) => x.failure);
  for (const c of errored) {
    console.error(`bootstorm: cell ${c.id} failed: ${c.error}`);
  }
  for (const c of nothing) console.error(`bootstorm: cell ${c.id}: ${c.error}`);
  if (errored.length) return 1;
  if (nothing.length) return EXIT_NOTHING_READY;
  if (state.cells.length && state.cells.every((x) => x.state === "refused")) {
    console.error(
      "bootstorm: every cell was refused by the memory pre-flight: nothing was measured (lower --count or pass --force)",
    );
    return EXIT_NOTHING_READY;
  }
  return 0;
}

/** Build and self-test the boot-work plugin (throws InsnsError with the fix). */
async function checkInsns(): Promise<void> {
  const qemu = which("qemu-system-x86_64") ?? "qemu-system-x86_64";
  const plugin = await ensureInsnsPlugin({ qemu });
  await selfTestPlugin(qemu, plugin.path, {
    kernel: fileURLToPath(
      new URL("../build/minkernel/minkernel.elf", import.meta.url),
    ),
    api: plugin.plugin_api_version,
    headerFrom: plugin.header_from,
  });
}

/** Draw every figure (SVG + PNG) and write report.html for a finished sweep. */
async function figuresAndReport(dir: string): Promise<void> {
  try {
    const set = withoutProbes(await loadRuns(dir));
    const written = await writeFigures(dir, { set });
    const report = await writeReport(dir, { set, figures: written.figures });
    console.error(`figures: ${written.out}\nreport: ${report.out}`);
  } catch (e) {
    console.error(
      `bootstorm: figures/report not written: ${
        (e as Error).message
      } (retry with deno task figures ${dir})`,
    );
  }
}

/** Entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--slurm")) {
    // A multi-host storm on Slurm: see slurm/ (README, "Multi-host storms").
    const { stormMain } = await import("../slurm/storm_main.ts");
    return await stormMain(argv, { parseCommand, help: HELP });
  }
  let cmd: Command;
  try {
    cmd = parseCommand(argv);
  } catch (e) {
    console.error(
      `error: ${(e as Error).message}\n(run with --help for usage)`,
    );
    return 2;
  }
  if (cmd.kind === "help") {
    console.log(HELP);
    return 0;
  }
  const ctl = new AbortController();
  const onSignal = () => {
    console.error(
      "\nbootstorm: interrupted: stopping instances and finalising the dataset…",
    );
    ctl.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // For the whole command: if it dies, whatever it started (builds, probes,
  // guests) is killed; see reaper.ts.
  const releaseReaper = await holdReaper();
  try {
    return cmd.kind === "batch"
      ? await runOneBatch(cmd.batch, ctl.signal)
      : await runSweepCommand(cmd, ctl.signal);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return e instanceof ProfileError || e instanceof UsageError ||
        e instanceof InsnsError
      ? 2
      : 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await releaseReaper();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
