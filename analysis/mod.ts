/**
 * Analysis of bootstorm datasets: pure functions over arquero tables.
 *
 * @module
 */
