/**
 * bootstorm: measure how fast virtual machines boot when many start at once,
 * and classify library operating systems by those measurements.
 *
 * @module
 */
export * from "./launcher/mod.ts";
export * from "./analysis/mod.ts";
