/**
 * `deno task sweep`: run batches of instances from the shell.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ensureDebianPackages } from "./deps.ts";
import { ensureMinkernel } from "../images/build.ts";
import { type Pattern, patternLabel } from "./pattern.ts";
import { loadProfile, ProfileError } from "./profile.ts";
import { runBatch } from "./run_batch.ts";
import type { InstanceRow } from "./schema.ts";

export const HELP =
  `deno task sweep — boot N instances by a launch pattern and write a dataset

Usage:
  deno task sweep [--image NAME|PROFILE.json] [--count N] [pattern] [options]

With no arguments: the small default job (minkernel, N=16 back-to-back,
then N=16 every 5 ms).

Pattern (one of):
  --interval MS       open loop: instance i starts at T_0 + i·MS (default 5 when no pattern is given)
  --back-to-back      start instances as fast as spawning allows (Δ = 0)
  --parallel P        closed loop: keep P instances booting at once

Options:
  --image NAME|PATH   profile name under images/profiles/ or a profile .json (default minkernel)
  --count N           number of instances (default 16)
  --timeout MS        per-instance boot timeout from T_s (default: the profile's timeoutMs)
  --out DIR           parent folder of the run folder (default data/runs)
  --accel MODE        auto | kvm | tcg (default auto: KVM when /dev/kvm is usable)
  --param NAME=VALUE  override a profile param (repeatable)
  --grace MS          SIGTERM → SIGKILL grace period when stopping instances (default 1000)
  --spawn-mode MODE   direct | prestart (default: prestart for --interval, direct otherwise)
  -h, --help          this text

Prints the run folder it wrote (data/runs/<run-id>/) as its last line on stdout.

Examples:
  deno task sweep --image minkernel --count 64 --back-to-back
  deno task sweep --image images/profiles/minkernel-microvm.json --count 32 --interval 5 --accel tcg
`;

/** A command-line mistake, reported without a stack trace. */
export class UsageError extends Error {}

/** Parsed command line of one batch. */
export interface BatchArgs {
  image: string;
  count: number;
  pattern: Pattern;
  timeoutMs?: number;
  out?: string;
  accel: "auto" | "kvm" | "tcg";
  params: Record<string, string>;
  graceMs?: number;
  spawnMode?: "direct" | "prestart";
}

function positiveNumber(
  flag: string,
  v: string | undefined,
  integer: boolean,
): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(
      `Invalid ${flag} ${JSON.stringify(v)}: expected a positive ${
        integer ? "whole number" : "number"
      }`,
    );
  }
  return n;
}

function parseArgsStrict(args: string[]) {
  return parseArgs({
    args,
    options: {
      image: { type: "string" },
      count: { type: "string" },
      interval: { type: "string" },
      "back-to-back": { type: "boolean" },
      parallel: { type: "string" },
      timeout: { type: "string" },
      out: { type: "string" },
      accel: { type: "string" },
      param: { type: "string", multiple: true },
      grace: { type: "string" },
      "spawn-mode": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
}

/**
 * Parse the command line of one batch (pure).
 *
 * @example
 * ```ts
 * import { parseBatchArgs } from "./cli.ts";
 * console.log(parseBatchArgs(["--count", "4", "--back-to-back"])?.pattern); // { kind: "back-to-back" }
 * ```
 */
export function parseBatchArgs(args: string[]): BatchArgs | null {
  // Let "--interval -5" reach our own check instead of parseArgs' ambiguity error.
  const norm: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (
      args[i].startsWith("--") && !args[i].includes("=") &&
      /^-\d/.test(args[i + 1] ?? "")
    ) {
      norm.push(`${args[i]}=${args[++i]}`);
    } else norm.push(args[i]);
  }
  let parsed;
  try {
    parsed = parseArgsStrict(norm);
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
  const { values } = parsed;
  if (values.help) return null;
  const patterns = [
    values.interval !== undefined,
    values["back-to-back"],
    values.parallel !== undefined,
  ]
    .filter(Boolean).length;
  if (patterns > 1) {
    throw new UsageError(
      "Choose one pattern: --interval MS, --back-to-back or --parallel P",
    );
  }
  let pattern: Pattern = { kind: "interval", intervalMs: 5 };
  if (values["back-to-back"]) pattern = { kind: "back-to-back" };
  if (values.parallel !== undefined) {
    pattern = {
      kind: "parallel",
      parallelism: positiveNumber("--parallel", values.parallel, true)!,
    };
  }
  if (values.interval !== undefined) {
    const ms = Number(values.interval);
    if (!Number.isFinite(ms) || ms < 0) {
      throw new UsageError(
        `Invalid --interval ${
          JSON.stringify(values.interval)
        }: expected milliseconds ≥ 0`,
      );
    }
    pattern = ms === 0
      ? { kind: "back-to-back" }
      : { kind: "interval", intervalMs: ms };
  }
  const accel = values.accel ?? "auto";
  if (!["auto", "kvm", "tcg"].includes(accel)) {
    throw new UsageError(
      `Invalid --accel ${JSON.stringify(accel)}: expected auto, kvm or tcg`,
    );
  }
  const spawnMode = values["spawn-mode"];
  if (
    spawnMode !== undefined && spawnMode !== "direct" &&
    spawnMode !== "prestart"
  ) {
    throw new UsageError(
      `Invalid --spawn-mode ${
        JSON.stringify(spawnMode)
      }: expected direct or prestart`,
    );
  }
  const params: Record<string, string> = {};
  for (const p of values.param ?? []) {
    const eq = p.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(
        `Invalid --param ${JSON.stringify(p)}: expected NAME=VALUE`,
      );
    }
    params[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return {
    image: values.image ?? "minkernel",
    count: positiveNumber("--count", values.count, true) ?? 16,
    pattern,
    timeoutMs: positiveNumber("--timeout", values.timeout, false),
    out: values.out,
    accel: accel as BatchArgs["accel"],
    params,
    graceMs: positiveNumber("--grace", values.grace, false),
    spawnMode: spawnMode as BatchArgs["spawnMode"],
  };
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One line describing a finished batch. */
export function batchLine(
  name: string,
  pattern: Pattern,
  rows: InstanceRow[],
): string {
  const ready = rows.filter((r) => r.outcome === "ready");
  const boots = ready.map((r) => r.boot_ms!);
  const med = median(boots);
  const failed = rows.length - ready.length;
  const outcomes = [
    ...new Set(rows.filter((r) => r.outcome !== "ready").map((r) => r.outcome)),
  ];
  return `${name} ${
    patternLabel(pattern)
  } N=${rows.length}: ${ready.length} ready, ${failed} failed${
    outcomes.length ? ` (${outcomes.join(", ")})` : ""
  }${
    med !== null
      ? `, boot_ms min/median/max ${Math.min(...boots).toFixed(1)}/${
        med.toFixed(1)
      }/${Math.max(...boots).toFixed(1)}`
      : ""
  }`;
}

async function runOne(
  args: BatchArgs,
  signal: AbortSignal,
): Promise<{ runDir: string; interrupted: boolean }> {
  const profile = await loadProfile(args.image);
  if (profile.argv[0].startsWith("qemu-system")) {
    await ensureDebianPackages(["qemu-system-x86"], {
      why: `boot "${profile.name}"`,
    });
  }
  if (profile.image?.includes("/build/minkernel/")) await ensureMinkernel();
  let started = 0, ended = 0;
  const tty = Deno.stderr.isTerminal();
  console.error(
    `bootstorm: ${profile.name}, ${
      patternLabel(args.pattern)
    }, N=${args.count}`,
  );
  const { runDir, record, result } = await runBatch(profile, {
    count: args.count,
    pattern: args.pattern,
    outDir: args.out,
    accel: args.accel,
    params: args.params,
    timeoutMs: args.timeoutMs,
    graceMs: args.graceMs,
    spawnMode: args.spawnMode,
    signal,
    onEvent: (ev) => {
      if (ev.type === "started") started++;
      else ended++;
      if (tty) {
        Deno.stderr.writeSync(
          new TextEncoder().encode(
            `\r  started ${started}/${args.count}, booted or ended ${ended}/${args.count}`,
          ),
        );
      }
    },
  });
  if (tty) console.error("");
  const acc = record.accelerator as { kind: string | null; reason: string };
  console.error(`  accelerator: ${acc.kind ?? "n/a"} (${acc.reason})`);
  console.error(
    `  ${batchLine(profile.name, args.pattern, result.rows)}${
      result.interrupted ? " [interrupted: partial dataset]" : ""
    }`,
  );
  console.log(runDir);
  return { runDir, interrupted: result.interrupted };
}

/** Entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let batches: BatchArgs[];
  try {
    if (argv.length === 0) {
      const base = parseBatchArgs(["--image", "minkernel", "--count", "16"])!;
      batches = [
        { ...base, pattern: { kind: "back-to-back" } },
        { ...base, pattern: { kind: "interval", intervalMs: 5 } },
      ];
      console.error(
        "bootstorm: default job: minkernel N=16 back-to-back, then N=16 every 5 ms (see --help)",
      );
    } else {
      const parsed = parseBatchArgs(argv);
      if (parsed === null) {
        console.log(HELP);
        return 0;
      }
      batches = [parsed];
    }
  } catch (e) {
    console.error(
      `error: ${(e as Error).message}\n(run with --help for usage)`,
    );
    return 2;
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
  try {
    for (const b of batches) {
      const { interrupted } = await runOne(b, ctl.signal);
      if (interrupted) return 130;
    }
    return 0;
  } catch (e) {
    if (e instanceof ProfileError || e instanceof UsageError) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    console.error(`error: ${(e as Error).message}`);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
