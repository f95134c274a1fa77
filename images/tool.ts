/**
 * Tooling subprocesses (apt-get, dpkg-query, gcc, as/ld, jupyter …) through
 * execa, with one error shape on failure: what failed, the command, its exit
 * status, the first and last lines of its stderr, and the fix. Not for the
 * launcher's hot path: guests are spawned by `launcher/runner.ts`
 * (`Deno.Command`).
 *
 * @module
 */
import { execa } from "execa";

/** Options of {@link runTool} and {@link tryTool}. */
export interface ToolOptions {
  cwd?: string;
  /** Extra environment variables (the rest of the environment is kept). */
  env?: Record<string, string>;
  /** Text fed to stdin (default: no stdin). */
  input?: string;
  /** Let the tool's stdout and stderr through to ours instead of capturing them. */
  inherit?: boolean;
}

/** What a tool run gave back. */
export interface ToolResult {
  ok: boolean;
  /** Exit code; null when the tool could not be started or was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why it could not be started (e.g. not on PATH), else null. */
  startError: string | null;
}

/**
 * Run a tool and return its result; never throws.
 *
 * @example
 * ```ts
 * import { tryTool } from "./tool.ts";
 * const r = await tryTool("sh", ["-c", "echo hi; exit 3"]);
 * console.log(r.ok, r.code, r.stdout); // false 3 hi
 * ```
 */
export async function tryTool(
  cmd: string,
  args: readonly string[],
  options: ToolOptions = {},
): Promise<ToolResult> {
  const r = await execa(cmd, args, {
    cwd: options.cwd,
    env: options.env,
    reject: false,
    stripFinalNewline: true,
    ...(options.input === undefined
      ? { stdin: "ignore" as const }
      : { input: options.input }),
    ...(options.inherit
      ? { stdout: "inherit" as const, stderr: "inherit" as const }
      : {}),
  });
  const notStarted = r.failed && r.exitCode === undefined && !r.isTerminated;
  return {
    ok: !r.failed,
    code: r.exitCode ?? null,
    stdout: String(r.stdout ?? ""),
    stderr: String(r.stderr ?? ""),
    startError: notStarted ? (r.originalMessage || r.shortMessage || "") : null,
  };
}

/**
 * The first and last lines of a tool's stderr, for an error message
 * ("" when it printed nothing).
 *
 * @example
 * ```ts
 * import { stderrEnds } from "./tool.ts";
 * console.log(stderrEnds("a\nb\nc\n")); // "a … c"
 * ```
 */
export function stderrEnds(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trimEnd()).filter(Boolean);
  if (lines.length <= 2) return lines.join(" / ");
  return `${lines[0]} … ${lines.at(-1)}`;
}

/**
 * The error for a failed tool run: `Cannot <what>: \`cmd args\` <how it
 * failed>[: <stderr first … last line>]. <fix>`.
 *
 * @example
 * ```ts
 * import { toolError } from "./tool.ts";
 * const r = { ok: false, code: 1, stdout: "", stderr: "x.c:1: error\n", startError: null };
 * console.log(toolError("build x", "cc", ["x.c"], r, "Fix x.c.").message);
 * // Cannot build x: `cc x.c` exited 1: x.c:1: error. Fix x.c.
 * ```
 */
export function toolError(
  what: string,
  cmd: string,
  args: readonly string[],
  r: ToolResult,
  fix: string,
): Error {
  const how = r.startError !== null
    ? `could not be started (${r.startError})`
    : r.code === null
    ? "was killed"
    : `exited ${r.code}`;
  const err = stderrEnds(r.stderr);
  return new Error(
    `Cannot ${what}: \`${[cmd, ...args].join(" ")}\` ${how}${
      err ? `: ${err}` : ""
    }. ${fix}`,
  );
}

/**
 * Run a tool; on failure throw {@link toolError}. Returns its stdout.
 *
 * @example
 * ```ts
 * import { runTool } from "./tool.ts";
 * console.log(await runTool("echo", ["hi"], { what: "say hi", fix: "Install coreutils." })); // hi
 * ```
 */
export async function runTool(
  cmd: string,
  args: readonly string[],
  options: ToolOptions & { what: string; fix: string },
): Promise<string> {
  const r = await tryTool(cmd, args, options);
  if (!r.ok) throw toolError(options.what, cmd, args, r, options.fix);
  return r.stdout;
}
