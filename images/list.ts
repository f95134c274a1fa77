/**
 * `deno task images`: every shipped profile, whether its image is present,
 * its size and sha256, and how to get it when absent.
 *
 * @module
 */
import { listProfileNames, loadProfile } from "../launcher/profile.ts";
import { sha256File } from "../dataset/checksum.ts";

/** One line of the listing. */
export interface ImageStatus {
  /** Profile name. */
  profile: string;
  /** The profile's system class (baseline, libos, linux…), null when it names none. */
  class: string | null;
  /** Path of its image (null: the profile needs none). */
  image: string | null;
  /** Whether the image is there. */
  present: boolean;
  /** Image size in bytes (null when absent). */
  bytes: number | null;
  /** sha256 of the image (null when absent). */
  sha256: string | null;
  /** How to get the image, from the profile (null when it does not say). */
  obtain: string | null;
}

/**
 * The status of every profile in a folder.
 *
 * @example
 * ```ts
 * import { imageStatuses } from "./list.ts";
 * const minkernel = (await imageStatuses()).find((s) => s.profile === "minkernel")!;
 * console.log(minkernel.class, minkernel.image?.endsWith("build/minkernel/minkernel.elf")); // "baseline" true
 * console.log(minkernel.present ? minkernel.sha256 : minkernel.obtain); // its sha256, or how to build it
 * ```
 */
export async function imageStatuses(
  options: { profilesDir?: string } = {},
): Promise<ImageStatus[]> {
  const out: ImageStatus[] = [];
  for (const name of await listProfileNames(options.profilesDir)) {
    const p = await loadProfile(name, options);
    let bytes: number | null = null, sha: string | null = null;
    if (p.image) {
      try {
        bytes = (await Deno.stat(p.image)).size;
        sha = await sha256File(p.image);
      } catch {
        // absent
      }
    }
    out.push({
      profile: name,
      class: p.class,
      image: p.image,
      present: bytes !== null,
      bytes,
      sha256: sha,
      obtain: p.obtain,
    });
  }
  return out;
}

/** `deno task images --help`. */
export const IMAGES_HELP = `Usage: deno task images [--help]

Lists every profile of images/profiles/: its class, whether its image is
present (size and sha256) or ABSENT, its path, and how to get an absent image.

Examples:
  deno task images                  every profile and its image
  deno task build-images            build the minkernel images listed as absent
  deno task sweep --image minkernel --count 4 --back-to-back
                                    boot a listed profile`;
