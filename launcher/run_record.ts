/**
 * The run record (`run.json`): host, accelerator, QEMU, image, argv, pattern,
 * toolkit and sampler facts. Gathering is I/O; assembling is plain data.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpus, hostname, release, totalmem } from "node:os";

/**
 * Hex sha256 of bytes.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./run_record.ts";
 * console.log((await sha256Hex(new Uint8Array())).slice(0, 8)); // "e3b0c442"
 * ```
 */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    data as Uint8Array<ArrayBuffer>,
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Hex sha256 of a file. */
export async function sha256File(path: string): Promise<string> {
  return await sha256Hex(await Deno.readFile(path));
}

/** Host facts for the record. */
export function hostInfo(): Record<string, unknown> {
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
): Promise<Record<string, unknown> | null> {
  if (!basename(argv0).startsWith("qemu-system") || resolved === null) {
    return null;
  }
  try {
    const out = await new Deno.Command(resolved, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
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
export async function toolkitInfo(): Promise<Record<string, unknown>> {
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
