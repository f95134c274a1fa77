/**
 * `deno task sweep --slurm …`: parse, run the storm, print what happened
 * per host and the start skew, and the storm folder as the last line on
 * stdout. Called by cli/sweep.ts.
 *
 * @module
 */
import { ProfileError } from "../launcher/profile.ts";
import type { MergeResult } from "./merge.ts";
import {
  type ParseCommand,
  parseStormArgs,
  STORM_HELP,
  UsageError,
} from "./storm_args.ts";
import { runStorm, StormError } from "./submit.ts";

/**
 * One line per host and a skew line.
 *
 * @example
 * ```ts
 * import { mergeRows } from "./merge.ts";
 * import { mergeSummary } from "./storm_main.ts";
 * const m = mergeRows([{
 *   host: "node1", rank: 0, agent: null, record: { status: "complete" }, runDir: null, count: 1, outcome: null,
 *   instances: [{ instance: 0, outcome: "ready", ready_ms: 30 }], memory: [],
 * }]);
 * console.log(mergeSummary({ dir: "storm", status: "complete", rows: 1, hosts: m.hosts, skew: m.skew }));
 * //   node1: 1/1 ready, 0 failed, 0 lost; last ready 30.0 ms; clock offset – ± – ms; first start – ms late
 * //   start skew between hosts: – ms; merged dataset complete, 1 instances
 * ```
 */
export function mergeSummary(m: MergeResult): string {
  const f = (x: number | null, d = 1) => x === null ? "–" : x.toFixed(d);
  const lines = m.hosts.map((h) =>
    `  ${h.host}: ${h.ready}/${h.count} ready, ${h.failed} failed, ${h.lost} lost; last ready ${
      f(h.last_ready_ms)
    } ms; clock offset ${f(h.clock_offset_ms, 3)} ± ${
      f(h.clock_uncertainty_ms, 3)
    } ms${
      h.injected_offset_ms ? ` (injected ${h.injected_offset_ms} ms)` : ""
    }; first start ${f(h.start_late_ms, 3)} ms late${
      h.lost_reason ? `; lost: ${h.lost_reason}` : ""
    }`
  );
  lines.push(
    `  start skew between hosts: ${f(m.skew.start_skew_ms, 3)} ms${
      m.skew.start_skew_same_clock_ms !== null
        ? ` (one shared clock: ${f(m.skew.start_skew_same_clock_ms, 3)} ms)`
        : ""
    }; merged dataset ${m.status}, ${m.rows} instances`,
  );
  return lines.join("\n");
}

/**
 * Entry point of `deno task sweep --slurm`; returns the exit code.
 *
 * @example
 * ```ts ignore
 * // needs a Slurm cluster (deno task cluster up)
 * Deno.exit(await stormMain(["--slurm", "--count", "16"], { parseCommand, help: HELP }));
 * ```
 */
export async function stormMain(
  argv: string[],
  launcher: { parseCommand: ParseCommand; help: string },
): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(launcher.help + STORM_HELP);
    return 0;
  }
  let args;
  try {
    args = parseStormArgs(argv, launcher.parseCommand);
  } catch (e) {
    console.error(
      `error: ${(e as Error).message}\n(run with --help for usage)`,
    );
    return 2;
  }
  const ctl = new AbortController();
  const onSignal = () => ctl.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const r = await runStorm(args, { signal: ctl.signal });
    if (r.merged) console.error(mergeSummary(r.merged));
    console.log(r.dir);
    return r.code;
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return e instanceof StormError || e instanceof ProfileError ||
        e instanceof UsageError
      ? 2
      : 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}
