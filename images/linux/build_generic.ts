/**
 * Build the second Linux guest: Debian's generic kernel
 * (`linux-image-<release>-amd64`, XZ-compressed, every driver) with the same
 * BusyBox initramfs as the cloud-kernel guest, into `build/linux-generic/`.
 * A second, different Linux build lets the classifier's leave-one-system-out
 * check hold one Linux out and still know the class.
 *
 * Usage: `deno run -A images/linux/build_generic.ts` (downloads about 70 MB
 * once into build/linux/cache/).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { buildLinuxGuest } from "./build.ts";

if (import.meta.main) {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  await buildLinuxGuest({
    out: `${root}build/linux-generic`,
    cache: `${root}build/linux/cache`,
    meta: "linux-image-amd64",
  });
}
