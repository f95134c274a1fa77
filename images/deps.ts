/**
 * Debian packages the project needs: checked with dpkg-query, installed with
 * apt-get when allowed (root, or sudo without a password), otherwise a clear
 * error with the exact command to run.
 *
 * @module
 */

import { tryTool } from "./tool.ts";

async function installed(pkg: string): Promise<boolean> {
  const r = await tryTool("dpkg-query", ["-W", "-f=${Status}", pkg]);
  return r.stdout.includes("install ok installed");
}

/** Whether the tool succeeded; apt-get's own output goes to ours unless `quiet`. */
async function ok(cmd: string, args: string[], quiet = true): Promise<boolean> {
  const r = await tryTool(cmd, args, {
    inherit: !quiet,
    env: { DEBIAN_FRONTEND: "noninteractive" },
  });
  return r.ok;
}

/**
 * Make sure Debian packages are installed; installs the missing ones when
 * permitted, saying so on stderr, else throws with the `apt-get` line.
 *
 * @example
 * ```ts ignore
 * await ensureDebianPackages(["qemu-system-x86"], { why: "boot guests" });
 * ```
 */
export async function ensureDebianPackages(
  packages: string[],
  options: { why?: string } = {},
): Promise<void> {
  const missing: string[] = [];
  for (const p of packages) if (!(await installed(p))) missing.push(p);
  if (missing.length === 0) return;
  const line = `apt-get install -y --no-install-recommends ${
    missing.join(" ")
  }`;
  const root = Deno.uid() === 0;
  const sudo = !root && (await ok("sudo", ["-n", "true"]));
  if (!root && !sudo) {
    throw new Error(
      `Missing Debian packages: ${missing.join(", ")}${
        options.why ? ` (needed to ${options.why})` : ""
      }. Install them with: sudo apt-get update && sudo ${line}`,
    );
  }
  const pre = sudo ? ["sudo", "-n"] : [];
  console.error(
    `bootstorm: installing Debian packages ${missing.join(", ")}${
      options.why ? ` (needed to ${options.why})` : ""
    }: ${pre.join(" ")} apt-get update && ${pre.join(" ")} ${line}`.replace(
      / +/g,
      " ",
    ),
  );
  const [cmd, ...rest] = [...pre, "apt-get"];
  if (!(await ok(cmd, [...rest, "update", "-qq"], false))) {
    throw new Error(`apt-get update failed; run it by hand, then: ${line}`);
  }
  const args = [
    ...rest,
    "install",
    "-y",
    "-qq",
    "--no-install-recommends",
    ...missing,
  ];
  if (!(await ok(cmd, args, false))) {
    throw new Error(`Installing ${missing.join(", ")} failed; run: ${line}`);
  }
}

/** Packages the launcher, the images and the tests need. */
export const PROJECT_PACKAGES: readonly string[] = [
  "qemu-system-x86",
  "binutils",
  "busybox-static",
  "cpio",
  // the synthetic guest, the C harness and the boot-work plugin (--insns)
  "gcc",
  "libc6-dev",
  "libglib2.0-dev",
  "pkg-config",
];
