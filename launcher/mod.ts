/**
 * The launcher: spawns N instances by a launch pattern, times them by the
 * paper's method and writes a versioned dataset.
 *
 * @module
 */
export * from "./schema.ts";
