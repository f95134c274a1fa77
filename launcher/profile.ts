/**
 * Profiles: the JSON contract users write to describe how to boot an image
 * and how to tell it has booted. `parseProfile` is a pure validator,
 * `loadProfile` reads a file (or a name under `images/profiles/`).
 *
 * @module
 */
import type {
  ProfileClassName,
  ReadyRuleRecord,
  TeardownName,
} from "../dataset/run_record.ts";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parseReadyRule } from "./readiness.ts";

/** How the launcher decides an instance has booted (T_e). */
export type ReadyRule = ReadyRuleRecord;

/** What happens to an instance after it is ready. */
export type Teardown = TeardownName;

/** Reference label of a profile. */
export type ProfileClass = ProfileClassName;

/** The declared type of a profile param. */
export interface ParamSpec {
  type: "integer" | "number" | "string";
  /** Smallest value allowed (integer, number). */
  min: number | null;
  /** Largest value allowed (integer, number). */
  max: number | null;
  /** The only values allowed (string). */
  values: string[] | null;
  description: string | null;
}

/** A validated profile. */
export interface Profile {
  /** Profile name (its file name without .json). */
  name: string;
  /** What kind of OS it is (baseline / libos / linux), or null. */
  class: ProfileClass | null;
  /** Absolute image path (resolved against the profile's folder), or null. */
  image: string | null;
  /** The command of one instance, with ${...} placeholders. */
  argv: string[];
  /** When an instance counts as booted. */
  ready: ReadyRule;
  /** Default per-instance timeout, ms. */
  timeoutMs: number;
  /** How instances are stopped. */
  teardown: Teardown;
  /** Default value of each param, as text (what `${name}` expands to). */
  params: Record<string, string>;
  /** Declared type of each param (from `{ "type": …, "default": … }`, or from a bare default's JSON type). */
  paramSpecs: Record<string, ParamSpec>;
  /** Guest memory floor, MiB, or null. */
  minMemoryMib: number | null;
  /** How to get the image, or null. */
  obtain: string | null;
  /** One line about the profile, or null. */
  description: string | null;
  /** Named marks: ordered map from name to line regex (source text). */
  marks: Record<string, string>;
  /** Absolute path of the profile file ("" when parsed from memory). */
  path: string;
}

/** A profile that cannot be used; the message names the file and key. */
export class ProfileError extends Error {
  /** An error whose message names the file and key. */
  constructor(message: string) {
    super(message);
    this.name = "ProfileError";
  }
}

const KEYS = new Set([
  "name",
  "class",
  "image",
  "argv",
  "ready",
  "timeoutMs",
  "teardown",
  "params",
  "minMemoryMib",
  "obtain",
  "description",
  "marks",
]);
const TEARDOWNS: readonly Teardown[] = [
  "kill-after-ready",
  "wait-exit",
  "hold-until-all-ready",
];
const CLASSES: readonly ProfileClass[] = ["baseline", "libos", "linux"];

/** Directory holding the shipped profiles. */
export const PROFILES_DIR: string = resolve(
  dirname(new URL(import.meta.url).pathname),
  "../images/profiles",
);

function typeName(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

function compile(source: string, where: string): RegExp {
  try {
    return new RegExp(source);
  } catch (e) {
    throw new ProfileError(
      `${where}: regex ${JSON.stringify(source)} does not compile (${
        (e as Error).message
      }); fix the pattern`,
    );
  }
}

/**
 * Validate a parsed profile object. Unknown keys, wrong types and regexes
 * that do not compile are refused with the file and key named.
 *
 * @example
 * ```ts
 * import { parseProfile } from "./profile.ts";
 * const p = parseProfile({ name: "t", argv: ["/bin/echo", "hi"], ready: { line: "hi" } });
 * console.log(p.teardown); // "kill-after-ready"
 * ```
 */
export function parseProfile(
  raw: unknown,
  options: { path?: string } = {},
): Profile {
  const file = options.path ?? "<profile>";
  const at = (key: string) => `Invalid profile ${file}: key "${key}"`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ProfileError(
      `Invalid profile ${file}: expected a JSON object, got ${typeName(raw)}`,
    );
  }
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KEYS.has(k)) {
      throw new ProfileError(
        `Invalid profile ${file}: unknown key "${k}" (allowed: ${
          [...KEYS].join(", ")
        })`,
      );
    }
  }
  if (typeof o.name !== "string" || o.name === "") {
    throw new ProfileError(
      `${at("name")} must be a non-empty string, got ${typeName(o.name)}`,
    );
  }
  if (
    !Array.isArray(o.argv) || o.argv.length === 0 ||
    !o.argv.every((a) => typeof a === "string")
  ) {
    throw new ProfileError(
      `${
        at("argv")
      } must be a non-empty array of strings (never a shell string)`,
    );
  }
  const cls = o.class ?? null;
  if (cls !== null && !CLASSES.includes(cls as ProfileClass)) {
    throw new ProfileError(
      `${at("class")} must be one of ${CLASSES.join(", ")}, got ${
        JSON.stringify(cls)
      }`,
    );
  }
  const image = o.image ?? null;
  if (image !== null && typeof image !== "string") {
    throw new ProfileError(`${at("image")} must be a string path`);
  }
  const ready = parseReady(o.ready, at("ready"));
  const timeoutMs = o.timeoutMs ?? 30000;
  if (
    typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) ||
    timeoutMs <= 0
  ) {
    throw new ProfileError(
      `${at("timeoutMs")} must be a positive number of milliseconds`,
    );
  }
  const teardown = o.teardown ?? "kill-after-ready";
  if (!TEARDOWNS.includes(teardown as Teardown)) {
    throw new ProfileError(
      `${at("teardown")} must be one of ${TEARDOWNS.join(", ")}, got ${
        JSON.stringify(teardown)
      }`,
    );
  }
  const params: Record<string, string> = {};
  const paramSpecs: Record<string, ParamSpec> = {};
  if (o.params !== undefined) {
    if (
      typeof o.params !== "object" || o.params === null ||
      Array.isArray(o.params)
    ) {
      throw new ProfileError(`${at("params")} must be an object`);
    }
    for (const [k, v] of Object.entries(o.params)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
        throw new ProfileError(`${at("params")}: bad parameter name "${k}"`);
      }
      const spec = parseParamSpec(v, `${at("params")}.${k}`);
      paramSpecs[k] = spec.spec;
      params[k] = spec.value;
    }
  }
  const marks: Record<string, string> = {};
  if (o.marks !== undefined) {
    if (
      typeof o.marks !== "object" || o.marks === null || Array.isArray(o.marks)
    ) {
      throw new ProfileError(
        `${at("marks")} must be an object of name → regex`,
      );
    }
    for (const [k, v] of Object.entries(o.marks)) {
      if (typeof v !== "string") {
        throw new ProfileError(`${at("marks")}: "${k}" must be a regex string`);
      }
      if (!/^[a-z][a-z0-9_]*$/.test(k)) {
        throw new ProfileError(
          `${at("marks")}: mark name "${k}" must be snake_case`,
        );
      }
      compile(v, `${at("marks")}.${k}`);
      marks[k] = v;
    }
  }
  for (const key of ["minMemoryMib"] as const) {
    const v = o[key];
    if (v !== undefined && v !== null && (typeof v !== "number" || v <= 0)) {
      throw new ProfileError(`${at(key)} must be a positive number`);
    }
  }
  for (const key of ["obtain", "description"] as const) {
    const v = o[key];
    if (v !== undefined && v !== null && typeof v !== "string") {
      throw new ProfileError(`${at(key)} must be a string`);
    }
  }
  const base = options.path ? dirname(resolve(options.path)) : Deno.cwd();
  return {
    name: o.name,
    class: cls as ProfileClass | null,
    image: image === null
      ? null
      : isAbsolute(image)
      ? image
      : resolve(base, image),
    argv: o.argv as string[],
    ready,
    timeoutMs,
    teardown: teardown as Teardown,
    params,
    paramSpecs,
    minMemoryMib: (o.minMemoryMib as number | undefined) ?? null,
    obtain: (o.obtain as string | undefined) ?? null,
    description: (o.description as string | undefined) ?? null,
    marks,
    path: options.path ? resolve(options.path) : "",
  };
}

const PARAM_KEYS = new Set([
  "type",
  "default",
  "min",
  "max",
  "values",
  "description",
]);
const PARAM_TYPES = ["integer", "number", "string"] as const;

/**
 * A param declaration: a bare default (`8`: integer, `1.5`: number, `"x"`:
 * string) or `{ "type", "default", "min"?, "max"?, "values"?, "description"? }`.
 */
function parseParamSpec(
  v: unknown,
  where: string,
): { spec: ParamSpec; value: string } {
  const none = { min: null, max: null, values: null, description: null };
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new ProfileError(`${where} must be finite`);
    return {
      spec: { type: Number.isInteger(v) ? "integer" : "number", ...none },
      value: String(v),
    };
  }
  if (typeof v === "string") {
    return { spec: { type: "string", ...none }, value: v };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ProfileError(
      `${where} must be a default value (number or string) or { "type": "integer" | "number" | "string", "default": … }`,
    );
  }
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!PARAM_KEYS.has(key)) {
      throw new ProfileError(
        `${where}: unknown key "${key}" (allowed: ${
          [...PARAM_KEYS].join(", ")
        })`,
      );
    }
  }
  if (!PARAM_TYPES.includes(o.type as ParamSpec["type"])) {
    throw new ProfileError(
      `${where}.type must be one of ${PARAM_TYPES.join(", ")}, got ${
        JSON.stringify(o.type)
      }`,
    );
  }
  for (const key of ["min", "max"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "number") {
      throw new ProfileError(`${where}.${key} must be a number`);
    }
  }
  if (
    o.values !== undefined &&
    (!Array.isArray(o.values) || !o.values.every((x) => typeof x === "string"))
  ) {
    throw new ProfileError(`${where}.values must be an array of strings`);
  }
  if (o.description !== undefined && typeof o.description !== "string") {
    throw new ProfileError(`${where}.description must be a string`);
  }
  const spec: ParamSpec = {
    type: o.type as ParamSpec["type"],
    min: (o.min as number | undefined) ?? null,
    max: (o.max as number | undefined) ?? null,
    values: (o.values as string[] | undefined) ?? null,
    description: (o.description as string | undefined) ?? null,
  };
  if (typeof o.default !== "number" && typeof o.default !== "string") {
    throw new ProfileError(`${where}.default must be a number or a string`);
  }
  const value = String(o.default);
  const problem = paramProblem(spec, value);
  if (problem) {
    throw new ProfileError(
      `${where}.default ${JSON.stringify(value)} ${problem}`,
    );
  }
  return { spec, value };
}

/** What is wrong with `value` for a param of `spec`, or null. */
function paramProblem(spec: ParamSpec, value: string): string | null {
  if (spec.type === "string") {
    return spec.values && !spec.values.includes(value)
      ? `is not one of ${spec.values.join(", ")}`
      : null;
  }
  const n = value.trim() === "" ? NaN : Number(value);
  if (
    !Number.isFinite(n) || (spec.type === "integer" && !Number.isInteger(n))
  ) {
    return `is not ${spec.type === "integer" ? "a whole number" : "a number"}`;
  }
  if (spec.min !== null && n < spec.min) return `is below ${spec.min}`;
  if (spec.max !== null && n > spec.max) return `is above ${spec.max}`;
  return null;
}

/** The declared type of a param in words: `a whole number ≥ 0`. */
function paramTypeText(spec: ParamSpec): string {
  const base = spec.type === "integer"
    ? "a whole number"
    : spec.type === "number"
    ? "a number"
    : spec.values
    ? `one of ${spec.values.join(", ")}`
    : "a string";
  const range = [
    spec.min !== null ? `≥ ${spec.min}` : "",
    spec.max !== null ? `≤ ${spec.max}` : "",
  ].filter(Boolean).join(" and ");
  return range ? `${base} ${range}` : base;
}

function parseReady(v: unknown, where: string): ReadyRule {
  const rule = parseReadyRule(v, where);
  if (typeof rule === "string") throw new ProfileError(rule);
  return rule;
}

/**
 * Load a profile from a path (`*.json`) or a shipped profile name.
 *
 * @example
 * ```ts ignore
 * const p = await loadProfile("minkernel");
 * ```
 */
export async function loadProfile(
  nameOrPath: string,
  options: { profilesDir?: string } = {},
): Promise<Profile> {
  const dir = options.profilesDir ?? PROFILES_DIR;
  const isPath = nameOrPath.endsWith(".json") || nameOrPath.includes("/");
  const path = isPath ? resolve(nameOrPath) : join(dir, `${nameOrPath}.json`);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      const known = await listProfileNames(dir);
      throw new ProfileError(
        isPath
          ? `Cannot read profile ${path}: file not found`
          : `Unknown image "${nameOrPath}": no profile ${path}; known profiles: ${
            known.join(", ")
          } (or pass a path to a profile .json)`,
      );
    }
    throw e;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ProfileError(
      `Invalid profile ${path}: not valid JSON (${(e as Error).message})`,
    );
  }
  return parseProfile(raw, { path });
}

/** Names of the profiles in a folder, sorted. */
export async function listProfileNames(
  dir: string = PROFILES_DIR,
): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".json")) names.push(e.name.slice(0, -5));
    }
  } catch {
    return [];
  }
  return names.sort();
}

/**
 * Substitute `${image}`, `${image_dir}` (the image's folder), `${accel}` (0+
 * arguments) and `${param}` in argv.
 * Unknown placeholders are an error naming the profile.
 *
 * @example
 * ```ts
 * import { expandArgv, parseProfile } from "./profile.ts";
 * const p = parseProfile({ name: "t", argv: ["qemu", "${accel}", "-m", "${mem}"], ready: { exit: true }, params: { mem: 50 } });
 * console.log(expandArgv(p, { accel: ["-accel", "tcg"] })); // ["qemu", "-accel", "tcg", "-m", "50"]
 * ```
 */
export function expandArgv(
  profile: Profile,
  options: { accel?: string[]; params?: Record<string, string> } = {},
): string[] {
  const params = { ...profile.params, ...options.params };
  const out: string[] = [];
  for (const arg of profile.argv) {
    if (arg === "${accel}") {
      out.push(...(options.accel ?? []));
      continue;
    }
    out.push(arg.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, key) => {
      if (key === "image") {
        if (profile.image === null) {
          throw new ProfileError(
            `Profile "${profile.name}" uses \${image} but has no "image" key`,
          );
        }
        return profile.image;
      }
      if (key === "image_dir") {
        if (profile.image === null) {
          throw new ProfileError(
            `Profile "${profile.name}" uses \${image_dir} but has no "image" key`,
          );
        }
        return dirname(profile.image);
      }
      if (key === "accel") {
        throw new ProfileError(
          `Profile "${profile.name}": \${accel} must be a whole argv element`,
        );
      }
      if (!(key in params)) {
        throw new ProfileError(
          `Profile "${profile.name}": argv uses \${${key}} but no param "${key}" is declared (declare it in "params" or pass --param ${key}=VALUE)`,
        );
      }
      return params[key];
    }));
  }
  return out;
}

/**
 * The same profile booting another image file (`--image-file PATH`): the
 * path resolves against the current folder; `${image_dir}` follows it.
 *
 * @example
 * ```ts
 * import { parseProfile, withImageFile } from "./profile.ts";
 * const p = parseProfile({ name: "t", image: "a.elf", argv: ["qemu", "-kernel", "${image}"], ready: { exit: true } });
 * console.log(withImageFile(p, "/tmp/b.elf").image); // "/tmp/b.elf"
 * ```
 */
export function withImageFile(profile: Profile, path: string): Profile {
  if (!profile.argv.some((a) => /\$\{image(_dir)?\}/.test(a))) {
    throw new ProfileError(
      `Cannot use --image-file with "${profile.name}": its argv has no \${image}`,
    );
  }
  return { ...profile, image: resolve(path) };
}

/**
 * Merge `--param k=v` overrides; unknown names and values of the wrong
 * type (see the profile's param declarations) are refused.
 *
 * @example
 * ```ts
 * import { parseProfile, resolveParams } from "./profile.ts";
 * const p = parseProfile({ name: "t", argv: ["x"], ready: { exit: true }, params: { mem: 50 } });
 * console.log(resolveParams(p, { mem: "64" })); // { mem: "64" }
 * try {
 *   resolveParams(p, { mem: "abc" });
 * } catch (e) {
 *   console.log((e as Error).message); // 'Invalid --param mem="abc": profile "t" declares mem a whole number (e.g. --param mem=50)'
 * }
 * ```
 */
export function resolveParams(
  profile: Profile,
  overrides: Record<string, string>,
): Record<string, string> {
  for (const [k, v] of Object.entries(overrides)) {
    if (!(k in profile.params)) {
      throw new ProfileError(
        `Profile "${profile.name}" has no param "${k}" (declared: ${
          Object.keys(profile.params).join(", ") || "none"
        })`,
      );
    }
    const spec = profile.paramSpecs[k];
    if (spec && paramProblem(spec, v) !== null) {
      throw new ProfileError(
        `Invalid --param ${k}=${
          JSON.stringify(v)
        }: profile "${profile.name}" declares ${k} ${
          paramTypeText(spec)
        } (e.g. --param ${k}=${profile.params[k]})`,
      );
    }
  }
  return { ...profile.params, ...overrides };
}

/** Throw a clear error when the profile's image file is absent. */
export async function assertImagePresent(profile: Profile): Promise<void> {
  if (profile.image === null) return;
  try {
    await Deno.stat(profile.image);
  } catch {
    const how = profile.obtain ?? "build or download it";
    throw new ProfileError(
      `Cannot boot "${profile.name}": image not found at ${profile.image}. How to get it: ${how}`,
    );
  }
}
