/**
 * The Linux guest, bootstorm's stand-in for the paper's Alpine Linux: a
 * Debian cloud kernel and a reproducible BusyBox initramfs, built from Debian
 * packages by `deno task build-linux` (`images/linux/build.ts`).
 *
 * @module
 */
export { buildLinuxGuest, type LinuxGuestBuild } from "./build.ts";
export { type CpioEntry, writeNewc } from "./newc.ts";
export { moduleLoadOrder, readModuleDepends } from "./kmod_deps.ts";
