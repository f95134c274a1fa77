/** Pure parts of the launcher: profiles, line watching, codecs, patterns, CLI flags. */
import assert from "node:assert/strict";
import {
  Float64,
  Int32,
  Table,
  tableFromIPC,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import { tableFromIPC as flechetteFromIPC } from "@uwdata/flechette";
import {
  ARROW_EOS,
  decodeRows,
  encodeBatch,
  encodeSchema,
} from "../dataset/arrow_codec.ts";
import { parseCommand, UsageError } from "../launcher/sweep_args.ts";
import { csvHeader, csvLines } from "../dataset/csv_codec.ts";
import { LineWatch } from "../launcher/line_watch.ts";
import {
  bootingCounter,
  concurrencyAt,
  scheduledMs,
} from "../launcher/pattern.ts";
import {
  expandArgv,
  listProfileNames,
  loadProfile,
  parseProfile,
  ProfileError,
} from "../launcher/profile.ts";
import { INSTANCE_COLUMNS } from "../dataset/schema.ts";

const enc = new TextEncoder();

Deno.test("parseProfile() refuses unknown keys, wrong types and bad regexes, naming file and key", () => {
  const base = { name: "x", argv: ["a"], ready: { line: "ok" } };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, colour: "red" }, /unknown key "colour"/],
    [{ ...base, argv: "qemu -m 50" }, /"argv" must be a non-empty array/],
    [{ ...base, ready: { line: "(" } }, /"ready".*regex "\(" does not compile/],
    [{ ...base, ready: { line: "a", exit: true } }, /exactly one/],
    [{ ...base, timeoutMs: "5s" }, /"timeoutMs" must be a positive/],
    [{ ...base, teardown: "explode" }, /"teardown" must be one of/],
    [{ ...base, class: "unikernel" }, /"class" must be one of/],
    [{ ...base, marks: { kernel: "[" } }, /"marks".kernel.*does not compile/],
  ];
  for (const [raw, re] of cases) {
    assert.throws(
      () => parseProfile(raw, { path: "/p/x.json" }),
      (e: Error) =>
        e instanceof ProfileError && re.test(e.message) &&
        e.message.includes("/p/x.json"),
    );
  }
});

Deno.test("expandArgv() substitutes image, accel and params", () => {
  const p = parseProfile({
    name: "t",
    image: "img.elf",
    argv: [
      "qemu",
      "${accel}",
      "-m",
      "${mem}",
      "-kernel",
      "${image}",
      "-append",
      "a=${mem} b",
    ],
    ready: { firstOutput: true },
    params: { mem: 64 },
  }, { path: "/x/profiles/t.json" });
  assert.deepEqual(
    expandArgv(p, { accel: ["-accel", "tcg"], params: { mem: "128" } }),
    [
      "qemu",
      "-accel",
      "tcg",
      "-m",
      "128",
      "-kernel",
      "/x/profiles/img.elf",
      "-append",
      "a=128 b",
    ],
  );
  assert.throws(
    () =>
      expandArgv(
        parseProfile({ name: "u", argv: ["${nope}"], ready: { exit: true } }),
      ),
    /no param "nope"/,
  );
});

Deno.test("loadProfile() validates every shipped profile and names known ones for a typo", async () => {
  const names = await listProfileNames();
  assert.ok(names.includes("minkernel") && names.includes("minkernel-microvm"));
  for (const n of names) {
    const p = await loadProfile(n);
    assert.equal(typeof p.name, "string");
  }
  await assert.rejects(
    () => loadProfile("minkernal"),
    /Unknown image "minkernal".*known profiles: .*minkernel/,
  );
});

Deno.test("LineWatch() matches a ready line glued to firmware text, across chunks", () => {
  const w = new LineWatch({ ready: /Hello/, marks: { boot: /^Booting/ } });
  const e1 = w.push(enc.encode("\x1b[2JSeaBIOS\r\nBooting from ROM.."));
  assert.equal(e1.ready, false);
  assert.deepEqual(e1.marks, ["boot"]);
  assert.equal(w.push(enc.encode("He")).ready, false);
  assert.equal(w.push(enc.encode("llo\n")).ready, true);
  assert.equal(w.push(enc.encode("Hello\n")).ready, false, "reported once");
  assert.equal(w.bytes, 43);
  assert.ok(w.head().startsWith("\x1b[2JSeaBIOS"));
});

Deno.test("LineWatch() keeps a bounded head and line buffer under a flood", () => {
  const w = new LineWatch({ ready: /END/ });
  const chunk = enc.encode("x".repeat(65536));
  for (let i = 0; i < 64; i++) w.push(chunk);
  assert.equal(w.push(enc.encode("END\n")).ready, true);
  assert.equal(w.head().length, 4096);
});

Deno.test("encodeBatch() appends batches that read back with and without the end marker", () => {
  const row = (i: number) =>
    Object.fromEntries(
      INSTANCE_COLUMNS.map((c) => [c.name, c.type === "utf8" ? null : i]),
    );
  const parts = [
    encodeSchema(INSTANCE_COLUMNS),
    encodeBatch(INSTANCE_COLUMNS, [row(0)]),
    encodeBatch(INSTANCE_COLUMNS, [row(1), row(2)]),
  ];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (bytes.set(p, o), o += p.length);
  const t = tableFromIPC(bytes);
  assert.equal(t.numRows, 3);
  assert.deepEqual(
    t.getChild("instance")!.toArray(),
    Int32Array.from([0, 1, 2]),
  );
  assert.equal(t.getChild("outcome")!.get(0), null);
  const closed = new Uint8Array([...bytes, ...ARROW_EOS]);
  assert.equal(tableFromIPC(closed).numRows, 3);
  assert.equal(encodeBatch(INSTANCE_COLUMNS, []).length, 0);
});

Deno.test("csvLines() quotes and writes null as empty", () => {
  const cols = [
    { name: "a", type: "utf8" as const, nullable: true, doc: "" },
    { name: "b", type: "float64" as const, nullable: true, doc: "" },
  ];
  assert.equal(csvHeader(cols), "a,b\n");
  assert.equal(
    csvLines(cols, [{ a: 'say "hi", ok', b: 1.5 }, { a: null, b: null }]),
    '"say ""hi"", ok",1.5\n,\n',
  );
});

Deno.test("csvLines() writes numbers as String() and non-finite as empty", () => {
  const cols = [
    { name: "t_ms", type: "float64" as const, nullable: false, doc: "" },
    { name: "n", type: "int32" as const, nullable: true, doc: "" },
    { name: "s", type: "utf8" as const, nullable: true, doc: "" },
  ];
  assert.equal(
    csvLines(cols, [
      { t_ms: 0.1 + 0.2, n: -7, s: 3 },
      { t_ms: NaN, n: Infinity, s: undefined },
      { t_ms: 1e21, n: null, s: "a\nb" },
      { t_ms: "x,y", n: 2, s: "" },
    ]),
    '0.30000000000000004,-7,3\n,,\n1e+21,,"a\nb"\n"x,y",2,\n',
  );
});

Deno.test("concurrencyAt() counts instances booting at a moment", () => {
  const starts = [0, 1, 2, 10];
  const ends = [5, 2, null, 11];
  assert.equal(concurrencyAt(0, starts, ends, 0), 0);
  assert.equal(
    concurrencyAt(2, starts, ends, 2),
    1,
    "instance 1 ended exactly at 2",
  );
  assert.equal(
    concurrencyAt(10, starts, ends, 3),
    1,
    "only the unfinished one",
  );
  assert.equal(concurrencyAt(1.5, starts, ends, -1), 2);
  assert.equal(scheduledMs({ kind: "interval", intervalMs: 5 }, 4), 20);
  assert.equal(scheduledMs({ kind: "back-to-back" }, 4), null);
});

Deno.test("bootingCounter() agrees with concurrencyAt() on random intervals", () => {
  let seed = 7;
  const rnd = () =>
    (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const starts: (number | null)[] = [], ends: (number | null)[] = [];
  for (let i = 0; i < 200; i++) {
    const s = rnd() < 0.05 ? null : Math.round(rnd() * 1000);
    starts.push(s);
    ends.push(s === null || rnd() < 0.2 ? null : s + Math.round(rnd() * 300));
  }
  const at = bootingCounter(starts, ends);
  for (let t = -10; t < 1400; t += 7) {
    assert.equal(at(t), concurrencyAt(t, starts, ends, -1), `t=${t}`);
  }
});

Deno.test("parseCommand() refuses bad flags with a clear message", () => {
  const bad: [string[], RegExp][] = [
    [["--count", "0"], /--count "0".*positive whole number/],
    [["--count", "2.5"], /--count "2.5"/],
    [["--interval", "-5"], /--interval "-5".*milliseconds/],
    [["--accel", "xen"], /--accel "xen"/],
    [["--param", "novalue"], /NAME=VALUE/],
    [["--bogus"], /bogus/],
    [["--repeat", "0"], /--repeat "0"/],
  ];
  for (const [args, re] of bad) {
    assert.throws(
      () => parseCommand(args),
      (e: Error) => e instanceof UsageError && re.test(e.message),
      args.join(" "),
    );
  }
});

Deno.test("parseCommand() tells a single batch from a grid, a default sweep and a resume", () => {
  const one = parseCommand(["--parallel", "3", "--count", "4"]);
  assert.equal(one.kind, "batch");
  if (one.kind === "batch") {
    assert.deepEqual(one.batch.pattern, { kind: "parallel", parallelism: 3 });
  }
  const grid = parseCommand([
    "--image",
    "a",
    "--image",
    "b",
    "--count",
    "1",
    "--count",
    "2",
    "--back-to-back",
    "--interval",
    "5",
    "--param",
    "k=1",
    "--param",
    "k=2",
    "--repeat",
    "2",
  ]);
  assert.equal(grid.kind, "sweep");
  if (grid.kind === "sweep") {
    assert.equal(grid.cells.length, 2 * 2 * 2 * 2 * 2);
    assert.deepEqual(
      new Set(grid.cells.map((c) => c.params.k)),
      new Set(["1", "2"]),
    );
  }
  const def = parseCommand([]);
  assert.equal(def.kind, "sweep");
  if (def.kind === "sweep") assert.equal(def.cells.length, 9);
  const res = parseCommand(["--resume", "/tmp/x"]);
  assert.equal(res.kind === "sweep" && res.resume, "/tmp/x");
  assert.equal(parseCommand(["-h"]).kind, "help");
});

Deno.test("datasetDoc() matches docs/dataset.md (run `deno task dataset-doc`)", async () => {
  const { datasetDoc } = await import("../dataset/doc.ts");
  const onDisk = await Deno.readTextFile(
    new URL("../docs/dataset.md", import.meta.url),
  );
  assert.equal(onDisk, datasetDoc());
  for (const c of INSTANCE_COLUMNS) assert.ok(onDisk.includes(`\`${c.name}\``));
});

Deno.test("parseCommand() takes --grace 0 (SIGKILL at once) and refuses a negative grace", () => {
  const c = parseCommand(["--count", "2", "--back-to-back", "--grace", "0"]);
  assert.equal(c.kind, "batch");
  if (c.kind === "batch") assert.equal(c.batch.graceMs, 0);
  assert.throws(
    () => parseCommand(["--count", "2", "--back-to-back", "--grace", "-5"]),
    /--grace/,
  );
});

Deno.test("encodeBatch() keeps every value and null of numeric and text columns, across bitmap bytes", () => {
  const cols = [
    { name: "f", type: "float64" as const, nullable: true, doc: "" },
    { name: "i", type: "int32" as const, nullable: true, doc: "" },
    { name: "s", type: "utf8" as const, nullable: true, doc: "" },
    { name: "t", type: "float64" as const, nullable: false, doc: "" },
  ];
  // nulls at the first, last and byte-edge positions of the validity bitmap
  const nulls = new Set([0, 7, 8, 9, 16, 20]);
  const rows = Array.from({ length: 21 }, (_, k) => ({
    f: nulls.has(k) ? null : k * 1.5 - 3,
    i: nulls.has(k) ? null : -(2 ** 31) + k,
    s: nulls.has(k) ? null : `r${k}`,
    t: k / 3,
  }));
  const bytes = new Uint8Array([
    ...encodeSchema(cols),
    ...encodeBatch(cols, rows),
    ...encodeBatch(cols, [{ f: 1, i: 2, s: "x", t: 3 }]),
    ...ARROW_EOS,
  ]);
  assert.deepEqual(decodeRows(bytes), [...rows, { f: 1, i: 2, s: "x", t: 3 }]);
});

Deno.test("encodeBatch() writes batches that apache-arrow and flechette both read as apache-arrow's own", () => {
  // The launcher's own record-batch writer against the library's: the same
  // rows through apache-arrow's tableToIPC, read back by two decoders.
  const cols = [
    { name: "n", type: "int32" as const, nullable: true, doc: "" },
    { name: "s", type: "utf8" as const, nullable: true, doc: "" },
    { name: "x", type: "float64" as const, nullable: true, doc: "" },
    { name: "u", type: "utf8" as const, nullable: false, doc: "" },
  ];
  const words = ["", "ready", "Grüße", "起動", 'a,b"c', "😀x"];
  const rows = Array.from({ length: 77 }, (_, k) => ({
    n: k % 5 === 0 ? null : k * 7919 - 3e5,
    s: k % 3 === 0 ? null : words[k % words.length],
    x: k % 11 === 0 ? null : k / 7 - 5,
    u: words[(k * 5) % words.length],
  }));
  const ours = new Uint8Array([
    ...encodeSchema(cols),
    ...encodeBatch(cols, rows.slice(0, 40)),
    ...encodeBatch(cols, rows.slice(40)),
    ...ARROW_EOS,
  ]);
  const theirs = tableToIPC(
    new Table({
      n: vectorFromArray(rows.map((r) => r.n), new Int32()),
      s: vectorFromArray(rows.map((r) => r.s), new Utf8()),
      x: vectorFromArray(rows.map((r) => r.x), new Float64()),
      u: vectorFromArray(rows.map((r) => r.u), new Utf8()),
    }),
    "stream",
  );
  assert.deepEqual(decodeRows(ours), decodeRows(theirs));
  assert.deepEqual(decodeRows(ours), rows);
  const f = flechetteFromIPC(ours);
  assert.equal(f.numRows, 77);
  assert.deepEqual(f.toArray().map((r) => ({ ...r })), rows);
});
