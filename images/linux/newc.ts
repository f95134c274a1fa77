/**
 * A reproducible writer for the cpio "newc" format the Linux kernel unpacks as
 * an initramfs. Pure: entries in, bytes out. Every entry gets uid/gid 0, mtime
 * 0 and a sequential inode number, and entries are written sorted by path, so
 * the same entries always give the same bytes whoever runs the build (no root
 * needed for device nodes or ownership).
 *
 * @module
 */

/** One file, directory, symlink or device node of an initramfs. */
export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Uint8Array; mode?: number }
  | { kind: "symlink"; path: string; target: string }
  | {
    kind: "char";
    path: string;
    major: number;
    minor: number;
    mode?: number;
  };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const encoder = new TextEncoder();

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0").toUpperCase();
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function normalise(path: string): string {
  const p = path.replace(/^\/+/, "").replace(/\/+$/, "");
  if (
    p === "" || p.split("/").some((s) => s === "" || s === "." || s === "..")
  ) {
    throw new Error(
      `Cannot write cpio entry "${path}": paths must be relative, without "." or ".." parts`,
    );
  }
  return p;
}

/**
 * Serialise entries as an uncompressed newc cpio archive, sorted by path,
 * ending with the `TRAILER!!!` record. Missing parent directories are added
 * (mode 0755).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CpioEntry, writeNewc } from "./newc.ts";
 * const entries: CpioEntry[] = [
 *   { kind: "file", path: "init", data: new TextEncoder().encode("#!/bin/sh\n"), mode: 0o755 },
 *   { kind: "char", path: "dev/console", major: 5, minor: 1 }, // adds the directory dev
 * ];
 * const bytes = writeNewc(entries);
 * const text = new TextDecoder().decode(bytes);
 * console.log(text.startsWith("070701"), text.includes("TRAILER!!!"), bytes.length % 4); // true true 0
 * assert.deepEqual(writeNewc([...entries].reverse()), bytes); // same entries, same bytes
 * ```
 */
export function writeNewc(entries: readonly CpioEntry[]): Uint8Array {
  const given = entries.map((e) => ({ ...e, path: normalise(e.path) }));
  const paths = new Set(given.map((e) => e.path));
  const parents: CpioEntry[] = [];
  for (const e of given) {
    const parts = e.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!paths.has(dir)) {
        paths.add(dir);
        parents.push({ kind: "dir", path: dir });
      }
    }
  }
  const sorted = [...given, ...parents]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].path === sorted[i - 1].path) {
      throw new Error(
        `Cannot write cpio archive: "${
          sorted[i].path
        }" appears twice; give each path once`,
      );
    }
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const push = (b: Uint8Array) => {
    chunks.push(b);
    offset += b.length;
  };
  const record = (
    name: string,
    ino: number,
    mode: number,
    nlink: number,
    data: Uint8Array,
    rdevMajor: number,
    rdevMinor: number,
  ) => {
    const nameBytes = encoder.encode(name + "\0");
    const header = "070701" + hex8(ino) + hex8(mode) + hex8(0) + hex8(0) +
      hex8(nlink) + hex8(0) + hex8(data.length) + hex8(0) + hex8(0) +
      hex8(rdevMajor) + hex8(rdevMinor) + hex8(nameBytes.length) + hex8(0);
    push(encoder.encode(header));
    push(nameBytes);
    push(new Uint8Array(pad4(offset)));
    push(data);
    push(new Uint8Array(pad4(offset)));
  };
  sorted.forEach((e, i) => {
    const ino = i + 1;
    switch (e.kind) {
      case "dir":
        record(
          e.path,
          ino,
          S_IFDIR | (e.mode ?? 0o755),
          2,
          new Uint8Array(),
          0,
          0,
        );
        break;
      case "file":
        record(e.path, ino, S_IFREG | (e.mode ?? 0o644), 1, e.data, 0, 0);
        break;
      case "symlink":
        record(e.path, ino, S_IFLNK | 0o777, 1, encoder.encode(e.target), 0, 0);
        break;
      case "char":
        record(
          e.path,
          ino,
          S_IFCHR | (e.mode ?? 0o600),
          1,
          new Uint8Array(),
          e.major,
          e.minor,
        );
        break;
    }
  });
  record("TRAILER!!!", 0, 0, 1, new Uint8Array(), 0, 0);
  const out = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
