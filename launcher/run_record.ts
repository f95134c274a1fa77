/**
 * The run record (`run.json`): host, accelerator, QEMU, image, argv, pattern,
 * toolkit and sampler facts. Gathering is I/O; assembling is plain data.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpus, hostname, release, totalmem } from "node:os";
import { ownerEnv } from "./reaper.ts";
import type { HostRecord, RunRecord } from "../dataset/run_record.ts";

/** Host facts for the record. */
export function hostInfo(): HostRecord {
  return {
    cpu_model: cpus()[0]?.model ?? null,
    cores: navigator.hardwareConcurrency,
    mem_total_kib: Math.round(totalmem() / 1024),
    kernel: release(),
    hostname: hostname(),
  };
}

/** `{path, version}` of a QEMU binary, or null when argv is not QEMU. */
export async function qemuInfo(
  argv0: string,
  resolved: string | null,
): Promise<RunRecord["qemu"]> {
  if (!basename(argv0).startsWith("qemu-system") || resolved === null) {
    return null;
  }
  try {
    const out = await new Deno.Command(resolved, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
      env: ownerEnv(),
    }).output();
    const first = new TextDecoder().decode(out.stdout).split("\n")[0];
    return {
      path: resolved,
      version: first.replace(/^QEMU emulator version /, ""),
    };
  } catch {
    return { path: resolved, version: null };
  }
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Toolkit version (deno.json) and git commit (null outside a checkout). */
export async function toolkitInfo(): Promise<RunRecord["toolkit"]> {
  let version: string | null = null;
  try {
    version =
      JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).version ??
        null;
  } catch {
    // not shipped
  }
  let commit: string | null = null;
  try {
    const out = await new Deno.Command("git", {
      args: ["-C", ROOT, "rev-parse", "HEAD"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.success) commit = new TextDecoder().decode(out.stdout).trim();
  } catch {
    // no git
  }
  return { version, git_commit: commit };
}

/**
 * A run id: UTC time plus a random suffix, sortable.
 *
 * @example
 * ```ts
 * import { newRunId } from "./run_record.ts";
 * console.log(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/.test(newRunId())); // true
 * ```
 */
export function newRunId(date: Date = new Date()): string {
  const iso = date.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const rnd = crypto.getRandomValues(new Uint8Array(3));
  return `${iso}-${
    [...rnd].map((b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}
