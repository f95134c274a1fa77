/**
 * Messages between a node agent and the submitting host during a storm
 * (JSON over UDP, every request answered; the agent retries until
 * answered). Slurm starts the agents; these messages only measure clock
 * offsets, agree on T_0 and report liveness.
 *
 * - `clock`: a round trip for the offset estimate (answered with `t2`).
 * - `hello`: the node's pre-flight verdict and clock offset; answered
 *   `wait` until every node said hello, then `prestart` or `abort`.
 * - `ready`: every instance is pre-started; answered `wait` until every node
 *   is ready, then `go` with T_0 (also pushed to every node at once).
 * - `beat`: alive, with progress; `done`: finished, with the run folder.
 *
 * @module
 */
import type { ClockOffset } from "./clock_offset.ts";

/** The pre-flight verdict of one node. */
export interface Preflight {
  /** Whether the node can run its share. */
  ok: boolean;
  /** What is wrong, naming the node, the path and the fix (null when ok). */
  error: string | null;
  /** The node's kernel (nodes with one boot_id share memory and clock). */
  boot_id: string | null;
  /** MemAvailable, KiB. */
  available_kib: number;
  /** Estimated peak memory of this node's share, KiB. */
  estimated_peak_kib: number;
  /** Instances this node boots. */
  count: number;
}

/** Agent → submitter. */
export type Request =
  | { t: "clock"; id: number; token: string; host: string }
  | {
    t: "hello";
    id: number;
    token: string;
    host: string;
    rank: number;
    preflight: Preflight;
    clock: ClockOffset;
  }
  | { t: "ready"; id: number; token: string; host: string }
  | {
    t: "beat";
    id: number;
    token: string;
    host: string;
    started: number;
    ended: number;
  }
  | {
    t: "done";
    id: number;
    token: string;
    host: string;
    status: "complete" | "partial";
    run_dir: string;
    ready: number;
    failed: number;
  };

/** Submitter → agent. */
export type Reply =
  | { t: "clock"; id: number; t2: number }
  | { t: "wait"; id: number }
  | {
    t: "prestart";
    id: number;
    /** Nodes (this one included) that share this node's kernel. */
    peers: number;
  }
  | { t: "go"; id: number; t0: number }
  | { t: "abort"; id: number; reason: string }
  | { t: "ok"; id: number };

/** Encode a message. */
export function encode(m: Request | Reply): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m));
}

/** Decode a message, or null when it is not one of ours. */
export function decode<T extends Request | Reply>(
  bytes: Uint8Array,
): T | null {
  try {
    const m = JSON.parse(new TextDecoder().decode(bytes));
    return typeof m === "object" && m !== null && typeof m.t === "string"
      ? m as T
      : null;
  } catch {
    return null;
  }
}
