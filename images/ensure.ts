/**
 * Guest images: build the project's own images on demand, and fail with a
 * clear error (profile, path, how to get it) for images that must come from
 * elsewhere.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { assertImagePresent, type Profile } from "../launcher/profile.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Build scripts of the images built from this repository, by output folder. */
export const BUILDERS: Record<string, string> = {
  "/build/minkernel/": "images/build.ts",
  "/build/synthetic/": "images/synthetic/build.ts",
  "/build/linux/": "images/linux/build.ts",
  "/build/linux-generic/": "images/linux/build_generic.ts",
};

/** The build script that makes a profile's image, or null. */
export function builderFor(profile: Profile): string | null {
  if (!profile.image) return null;
  for (const [dir, script] of Object.entries(BUILDERS)) {
    if (profile.image.includes(dir)) return script;
  }
  return null;
}

/**
 * Make sure a profile's image exists: build it when the repository has its
 * source (saying so on stderr), else throw the profile's "how to get it".
 *
 * @example
 * ```ts ignore
 * await ensureImage(await loadProfile("minkernel"));
 * ```
 */
export async function ensureImage(
  profile: Profile,
  options: {
    /**
     * Environment of the build process: a launcher passes its owner cookie
     * (launcher/reaper.ts `ownerEnv()`) so that its reaper kills the build
     * with it.
     */
    env?: Record<string, string>;
  } = {},
): Promise<void> {
  if (!profile.image || existsSync(profile.image)) return;
  const script = builderFor(profile);
  if (script && existsSync(`${ROOT}${script}`)) {
    console.error(
      `bootstorm: building the image of "${profile.name}" (${script}) …`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}${script}`],
      cwd: ROOT,
      stdout: "inherit",
      stderr: "inherit",
      stdin: "null",
      env: options.env,
    }).output();
    if (!out.success) {
      throw new Error(
        `Cannot build the image of "${profile.name}": ${script} failed (exit ${out.code})`,
      );
    }
  }
  await assertImagePresent(profile);
}
