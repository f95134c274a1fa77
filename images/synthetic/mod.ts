/**
 * The synthetic guest: a multiboot guest whose boot cost is known by
 * construction (`touch_mib=N spin_ms=M` on its command line), built by
 * `deno task build-synthetic` (`images/synthetic/build.ts`).
 *
 * @module
 */
export { buildSynthetic, type SyntheticBuild } from "./build.ts";
