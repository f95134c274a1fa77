/**
 * Column-projected reading of a large Arrow IPC stream file: only the
 * buffers of the wanted columns are read from disk (seek + read per buffer),
 * so analysing 10 M rows reads and holds well under half of the file. Used
 * by loadRun when `columns` is given and the file is big; anything unusual
 * (legacy framing, dictionaries, compression, nested types) makes it return
 * null and the caller reads the whole file instead.
 *
 * Kept hand-written: loading the same 10 M rows' analysis columns with
 * arquero's own reader (`aq.fromArrow` of each whole file) took 4–5× the
 * time (16–18 s against 3–5 s) and 2.8× the memory (5.0 GB against 1.8 GB)
 * of loadSweep with this reader
 * (bench/results/analysis-arquero-2026-12-01.md, "arquero's own Arrow
 * reader"); and load.ts, its only caller, is outside this step.
 *
 * @module
 */

import "@uwdata/flechette";
import { batchType, Column, tableFromIPC, Type } from "@uwdata/flechette";
import * as aq from "arquero";
import type { Table } from "./columns.ts";
import type { Truncation } from "./arrow_stream.ts";

/** A schema field as flechette decodes it. */
export interface ArrowField {
  name: string;
  type: { typeId: number; bitWidth?: number; precision?: number };
  nullable: boolean;
}

/** Result of {@link readArrowProjected}. */
export interface ProjectedRead {
  /** The wanted columns that exist, as Arrow-backed columns. */
  table: Table;
  /** Every field of the file's schema. */
  fields: ArrowField[];
  /** Complete record batches read. */
  recordBatches: number;
  /** Whether the end-of-stream marker was found. */
  endMarker: boolean;
  /** Set when the file ends inside a message (batches before it were read). */
  truncated: Truncation | null;
}

const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** Buffers per field for the flat types read here. */
function bufferCount(typeId: number): number | null {
  switch (typeId) {
    case Type.Null:
      return 0;
    case Type.Int:
    case Type.Float:
      return 2;
    case Type.Utf8:
      return 3;
    default:
      return null;
  }
}

class Reader {
  constructor(readonly file: Deno.FsFile, readonly size: number) {}

  async bytes(pos: number, n: number): Promise<Uint8Array> {
    const buf = new Uint8Array(n);
    await this.file.seek(pos, Deno.SeekMode.Start);
    let off = 0;
    while (off < n) {
      const r = await this.file.read(buf.subarray(off));
      if (r === null) break;
      off += r;
    }
    if (off < n) throw new Error(`short read at byte ${pos}`);
    return buf;
  }
}

interface Table32 {
  view: DataView;
  pos: number;
  field(i: number): number;
}

function fbTable(view: DataView, pos: number): Table32 {
  const vt = pos - view.getInt32(pos, true);
  const vtSize = view.getUint16(vt, true);
  return {
    view,
    pos,
    field(i: number) {
      const o = 4 + 2 * i;
      if (o + 2 > vtSize) return 0;
      const off = view.getUint16(vt + o, true);
      return off ? pos + off : 0;
    },
  };
}

function int64(view: DataView, at: number): number {
  return view.getInt32(at + 4, true) * 4294967296 + view.getUint32(at, true);
}

function deref(view: DataView, at: number): number {
  return at + view.getUint32(at, true);
}

/**
 * Read the `columns` of an Arrow IPC stream file, reading only their
 * buffers. Returns null when the file uses something this reader does not
 * handle (the caller then reads the whole file). Missing columns are simply
 * absent from the table (the caller checks the schema via `fields`).
 *
 * @example
 * ```ts
 * import { simulateStorm, writeRunFolder } from "../dataset/synthetic_run.ts";
 * const dir = await Deno.makeTempDir();
 * const fixture = simulateStorm({
 *   runId: "r1", image: "minkernel", cls: "baseline", n: 4,
 *   baseMs: 100, perConcurrentMs: 5, rssKib: 45_000,
 * });
 * const runDir = await writeRunFolder(dir, fixture);
 * const r = await readArrowProjected(`${runDir}/instances.arrow`, ["boot_ms", "outcome"]);
 * r?.table.numRows();
 * ```
 */
export async function readArrowProjected(
  path: string,
  columns: readonly string[],
): Promise<ProjectedRead | null> {
  const file = await Deno.open(path);
  try {
    const size = (await file.stat()).size;
    const rd = new Reader(file, size);
    let pos = 0;
    let fields: ArrowField[] | null = null;
    let wanted: { index: number; field: ArrowField; firstBuffer: number }[] =
      [];
    const batches = new Map<string, unknown[]>();
    let recordBatches = 0;
    let endMarker = false;
    let truncated: Truncation | null = null;
    let messages = 0;
    while (pos < size) {
      const cut = (need: number) => {
        truncated = {
          message: messages,
          atByte: pos,
          needBytes: need,
          haveBytes: size - pos,
        };
      };
      if (size - pos < 8) {
        cut(8);
        break;
      }
      const prefix = await rd.bytes(pos, 8);
      const pv = new DataView(prefix.buffer);
      if (pv.getInt32(0, true) !== -1) return null; // legacy framing
      const metaLen = pv.getInt32(4, true);
      if (metaLen === 0) {
        endMarker = true;
        break;
      }
      if (metaLen < 0 || size - pos < 8 + metaLen) {
        if (metaLen < 0) return null;
        cut(8 + metaLen);
        break;
      }
      const meta = await rd.bytes(pos + 8, metaLen);
      const mv = new DataView(meta.buffer);
      const msg = fbTable(mv, mv.getUint32(0, true));
      const typeAt = msg.field(1);
      const type = typeAt ? mv.getUint8(typeAt) : 0;
      const bodyAt = msg.field(3);
      const bodyLength = bodyAt ? int64(mv, bodyAt) : 0;
      if (size - pos < 8 + metaLen + bodyLength) {
        cut(8 + metaLen + bodyLength);
        break;
      }
      const body = pos + 8 + metaLen;
      if (type === 1) {
        if (fields) return null;
        const schemaBytes = new Uint8Array(8 + metaLen + EOS.length);
        schemaBytes.set(prefix, 0);
        schemaBytes.set(meta, 8);
        schemaBytes.set(EOS, 8 + metaLen);
        fields = tableFromIPC(schemaBytes).schema
          .fields as unknown as ArrowField[];
        let buffer = 0;
        wanted = [];
        for (let i = 0; i < fields.length; i++) {
          const count = bufferCount(fields[i].type.typeId);
          if (count === null) return null;
          if (columns.includes(fields[i].name)) {
            wanted.push({ index: i, field: fields[i], firstBuffer: buffer });
            batches.set(fields[i].name, []);
          }
          buffer += count;
        }
      } else if (type === 3) {
        if (!fields) return null;
        const rb = fbTable(mv, deref(mv, msg.field(2)));
        if (rb.field(3)) return null; // compressed
        const length = rb.field(0) ? int64(mv, rb.field(0)) : 0;
        const nodes = deref(mv, rb.field(1));
        const bufs = deref(mv, rb.field(2));
        for (const w of wanted) {
          const nodeAt = nodes + 4 + 16 * w.index;
          const nullCount = int64(mv, nodeAt + 8);
          const buf = async (k: number) => {
            const at = bufs + 4 + 16 * (w.firstBuffer + k);
            const off = int64(mv, at);
            const len = int64(mv, at + 8);
            return len ? await rd.bytes(body + off, len) : new Uint8Array(0);
          };
          const t = w.field.type;
          let values: unknown;
          let offsets: Int32Array | undefined;
          let validity: Uint8Array | undefined;
          if (t.typeId !== Type.Null) validity = await buf(0);
          if (t.typeId === Type.Utf8) {
            const o = await buf(1);
            offsets = new Int32Array(o.buffer, 0, o.byteLength >> 2);
            values = await buf(2);
          } else if (t.typeId !== Type.Null) {
            const v = await buf(1);
            values = t.typeId === Type.Float
              ? (t.precision === 2
                ? new Float64Array(v.buffer, 0, v.byteLength >> 3)
                : null)
              : t.bitWidth === 32
              ? new Int32Array(v.buffer, 0, v.byteLength >> 2)
              : null;
            if (values === null) return null;
          }
          const BatchClass = batchType(t as never);
          batches.get(w.field.name)!.push(
            new BatchClass({
              length,
              nullCount,
              type: t,
              validity,
              values,
              offsets,
            }),
          );
        }
        recordBatches++;
      } else {
        return null; // dictionary batches, tensors…
      }
      messages++;
      pos = body + bodyLength;
    }
    if (!fields) return null;
    const data: Record<string, unknown> = {};
    for (const w of wanted) {
      data[w.field.name] = new Column(
        batches.get(w.field.name) as never,
        w.field.type as never,
      );
    }
    return {
      table: aq.table(
        data as Parameters<typeof aq.table>[0],
        wanted.map((w) => w.field.name),
      ),
      fields,
      recordBatches,
      endMarker,
      truncated,
    };
  } finally {
    file.close();
  }
}
