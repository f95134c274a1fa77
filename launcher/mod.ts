/**
 * The launcher: spawns N instances by a launch pattern, times them by the
 * paper's method (T_s just before each spawn, T_e at the ready condition),
 * samples whole-system memory every 500 µs and writes a versioned dataset.
 *
 * @module
 */
export * from "../dataset/schema.ts";
export * from "./profile.ts";
export * from "./pattern.ts";
export * from "./launch.ts";
export * from "./run_batch.ts";
export * from "./accel.ts";
export * from "./clock.ts";
export * from "./line_watch.ts";
export * from "../dataset/arrow_codec.ts";
export * from "../dataset/csv_codec.ts";
export * from "../dataset/writer.ts";
export * from "./memory_sampler.ts";
export * from "./runner.ts";
export * from "./run_record.ts";
