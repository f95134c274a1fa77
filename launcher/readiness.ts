/**
 * Readiness rules: when an instance counts as booted (T_e). One strategy per
 * rule of a profile's `ready` (`{ "line": "<regex>" }`, `{ "firstOutput":
 * true }`, `{ "exit": true }`), each a small object implementing
 * {@link ReadinessStrategy}; the registry {@link READINESS} is the one place
 * that knows them: the profile parser validates `ready` through it and the
 * launcher asks the instance's strategy at each stdout chunk and at exit.
 * A new rule is one new entry here (and its record shape in
 * `dataset/run_record.ts`, the contract of `run.json`).
 *
 * QMP (phase mode) is not a readiness rule: it records when the VMM answers
 * and when the guest runs (`vmm_ready_ms`, `t_k_ms`), T_e stays the rule's.
 *
 * @module
 */
import type { ReadyRuleRecord } from "../dataset/run_record.ts";

/** A profile's ready rule, as written in the profile and in `run.json`. */
type ReadyRule = ReadyRuleRecord;

/** How one ready rule decides T_e. */
export interface ReadinessStrategy {
  /** The rule's key in a profile's `ready` object. */
  readonly key: string;
  /** The regex the stdout watcher matches as the ready line, or null. */
  readonly readyLine: RegExp | null;
  /** Ready at the instance's exit (whatever its status). */
  readonly readyAtExit: boolean;
  /**
   * Read the peak RSS at the first output: the process is gone at T_e, so
   * its peak must be read before.
   */
  readonly rssAtFirstOutput: boolean;
  /**
   * Whether a stdout chunk makes the instance ready; `lineMatched`: the
   * ready line matched in this chunk.
   */
  readyOnOutput(lineMatched: boolean): boolean;
  /**
   * The 0-based stdout byte that completed the ready condition (for the
   * boot-work counts at that write), given the watcher's `readyByte`; null
   * when no byte did (the counts at T_e stand in).
   */
  readyByte(lineReadyByte: number | null): number | null;
}

/** One entry of the registry: parse a rule, make its strategy. */
export interface ReadinessKind {
  /** The rule's key in a profile's `ready` object. */
  readonly key: string;
  /** The rule as written in a profile, for error messages. */
  readonly example: string;
  /**
   * The rule of a profile's `ready[key]` value, or a message saying what is
   * wrong with it (`where` names the key).
   */
  parse(value: unknown, where: string): ReadyRule | string;
  /** The strategy of a rule of this kind. */
  strategy(rule: ReadyRule): ReadinessStrategy;
}

const lineRule: ReadinessKind = {
  key: "line",
  example: '{ "line": "<regex>" }',
  parse(value, where) {
    if (typeof value !== "string") return "";
    try {
      new RegExp(value);
    } catch (e) {
      return `${where}.line: regex ${JSON.stringify(value)} does not compile (${
        (e as Error).message
      }); fix the pattern`;
    }
    return { line: value };
  },
  strategy(rule) {
    return {
      key: "line",
      readyLine: new RegExp((rule as { line: string }).line),
      readyAtExit: false,
      rssAtFirstOutput: false,
      readyOnOutput: (matched) => matched,
      readyByte: (byte) => byte,
    };
  },
};

const firstOutputStrategy: ReadinessStrategy = {
  key: "firstOutput",
  readyLine: null,
  readyAtExit: false,
  rssAtFirstOutput: false,
  readyOnOutput: () => true,
  readyByte: () => 0,
};

const firstOutputRule: ReadinessKind = {
  key: "firstOutput",
  example: '{ "firstOutput": true }',
  parse: (value) => value === true ? { firstOutput: true } : "",
  strategy: () => firstOutputStrategy,
};

const exitStrategy: ReadinessStrategy = {
  key: "exit",
  readyLine: null,
  readyAtExit: true,
  rssAtFirstOutput: true,
  readyOnOutput: () => false,
  readyByte: () => null,
};

const exitRule: ReadinessKind = {
  key: "exit",
  example: '{ "exit": true }',
  parse: (value) => value === true ? { exit: true } : "",
  strategy: () => exitStrategy,
};

/**
 * Every ready rule, by its key in a profile's `ready`.
 *
 * @example
 * ```ts
 * import { READINESS } from "./readiness.ts";
 * console.log(Object.keys(READINESS)); // [ "firstOutput", "line", "exit" ]
 * console.log(READINESS.line.parse("(", "ready")); // a message: the regex does not compile
 * ```
 */
export const READINESS: Readonly<Record<string, ReadinessKind>> = {
  firstOutput: firstOutputRule,
  line: lineRule,
  exit: exitRule,
};

/**
 * The strategy of a ready rule.
 *
 * @example
 * ```ts
 * import { readinessFor } from "./readiness.ts";
 * const r = readinessFor({ line: "Hello" });
 * console.log(r.readyLine?.source, r.readyOnOutput(true)); // "Hello" true
 * ```
 */
export function readinessFor(rule: ReadyRule): ReadinessStrategy {
  for (const key of Object.keys(rule)) {
    const kind = READINESS[key];
    if (kind) return kind.strategy(rule);
  }
  throw new Error(`Unknown ready rule ${JSON.stringify(rule)}`);
}

/**
 * Parse a profile's `ready` value: exactly one known rule. Returns the rule,
 * or a message naming what is wrong (`where`: the key, for the message).
 *
 * @example
 * ```ts
 * import { parseReadyRule } from "./readiness.ts";
 * console.log(parseReadyRule({ exit: true }, "ready")); // { exit: true }
 * console.log(typeof parseReadyRule({ line: "(" }, "ready")); // "string"
 * ```
 */
export function parseReadyRule(v: unknown, where: string): ReadyRule | string {
  const rules = Object.values(READINESS).map((k) => k.example);
  const list = `${rules.slice(0, -1).join(", ")} or ${rules.at(-1)}`;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return `${where} must be ${list}`;
  }
  const r = v as Record<string, unknown>;
  const keys = Object.keys(r);
  if (keys.length !== 1) {
    const names = Object.keys(READINESS).join(", ");
    return `${where} must have exactly one of ${names}; got ${
      keys.join(", ") || "none"
    }`;
  }
  const kind = READINESS[keys[0]];
  const parsed = kind ? kind.parse(r[keys[0]], where) : "";
  if (typeof parsed !== "string" || parsed !== "") return parsed;
  return `${where}: unknown rule ${JSON.stringify(r)}; use ${list}`;
}
