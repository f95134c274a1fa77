/**
 * Boot work: a QEMU TCG plugin of this project (`insns_plugin.c`) counts the
 * instructions a guest executes, firmware apart, and the launcher reads the
 * counters live at first output and at T_e. TCG only.
 *
 * @module
 */
export {
  ensureInsnsPlugin,
  type EnsurePluginOptions,
  InsnsError,
  type InsnsPluginInfo,
  pluginApiVersion,
  pluginLoadError,
  qemuSourceVersion,
} from "./build.ts";
export { type InsnsCounters, InsnsSlots, SLOT_BYTES } from "./slots.ts";
export { type InsnsSelfTest, selfTestPlugin } from "./self_test.ts";
export { type GuestEntry, guestEntry, kernelEntry } from "./entry.ts";
