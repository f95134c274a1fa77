/**
 * bootstorm: measure how fast virtual machines boot when many start at once,
 * and classify library operating systems by those measurements. The
 * warehouse (Parquet export, SQL through DuckDB) loads DuckDB only when
 * one of its functions runs.
 *
 * @module
 */
export * from "./launcher/mod.ts";
export * from "./analysis/mod.ts";
export * from "./warehouse/mod.ts";
