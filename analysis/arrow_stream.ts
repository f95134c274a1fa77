/**
 * Framing of the Arrow IPC *stream* format, without decoding data: find
 * where each message starts and ends, whether the end-of-stream marker is
 * there, and whether the bytes stop inside a message (a launcher that
 * crashed mid-write). Used to give precise errors and to salvage the
 * complete record batches of a truncated file.
 *
 * Layout (Arrow columnar spec, "Encapsulated message format"): each message
 * is `0xFFFFFFFF`, an int32 metadata length L, L bytes of flatbuffer
 * `Message` (padded to 8), then `bodyLength` bytes of body. A message with
 * L = 0 is the end-of-stream marker. Pre-0.15 streams omit the 0xFFFFFFFF.
 *
 * Kept hand-written: neither arquero nor flechette reports where a stream
 * stops or reads the complete batches before a cut, which the loader's
 * errors and `--salvage` need; it is not on the benchmark's path.
 *
 * @module
 */

/** Where the bytes stop inside a message. */
export interface Truncation {
  /** 0-based index of the incomplete message. */
  message: number;
  /** Byte offset where that message starts. */
  atByte: number;
  /** Bytes that message needs (header + metadata + body, as far as known). */
  needBytes: number;
  /** Bytes of it present. */
  haveBytes: number;
}

/** Result of {@link frameIpcStream}. */
export interface StreamFrames {
  /** Whether the bytes are the IPC *file* format (start with `ARROW1`) instead. */
  fileFormat: boolean;
  /** Complete messages before the end, the marker or a truncation. */
  messages: number;
  /** Complete record-batch messages. */
  recordBatches: number;
  /** Whether the first complete message is a schema. */
  hasSchema: boolean;
  /** Offset just past the last complete message. */
  completeBytes: number;
  /** Whether the stream ends with the end-of-stream marker. */
  endMarker: boolean;
  /** Set when the bytes end inside a message. */
  truncated: Truncation | null;
  /** Set when a message header makes no sense (not Arrow, or corrupted). */
  invalid: string | null;
}

const MESSAGE_SCHEMA = 1;
const MESSAGE_RECORD_BATCH = 3;
const MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"

/**
 * Frame an Arrow IPC stream: count complete messages, note the end marker,
 * and report a truncation or a corrupt header. Never throws.
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
 * const f = frameIpcStream(await Deno.readFile(`${runDir}/instances.arrow`));
 * if (f.truncated) console.log(`cut inside message ${f.truncated.message}`);
 * ```
 */
export function frameIpcStream(bytes: Uint8Array): StreamFrames {
  const out: StreamFrames = {
    fileFormat: MAGIC.every((b, i) => bytes[i] === b),
    messages: 0,
    recordBatches: 0,
    hasSchema: false,
    completeBytes: 0,
    endMarker: false,
    truncated: null,
    invalid: null,
  };
  if (out.fileFormat) return out;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.byteLength;
  let o = 0;
  while (o < len) {
    const cut = (need: number) => {
      out.truncated = {
        message: out.messages,
        atByte: o,
        needBytes: need,
        haveBytes: len - o,
      };
    };
    if (len - o < 4) {
      cut(8);
      break;
    }
    let header = 4;
    let metaLen = view.getInt32(o, true);
    if (metaLen === -1) {
      if (len - o < 8) {
        cut(8);
        break;
      }
      metaLen = view.getInt32(o + 4, true);
      header = 8;
    }
    if (metaLen === 0) {
      out.endMarker = true;
      o += header;
      out.completeBytes = o;
      break;
    }
    if (metaLen < 0 || (header === 4 && metaLen > len - o - 4)) {
      out.invalid = `message ${out.messages} at byte ${o} has a metadata ` +
        `length of ${metaLen}, which is not Arrow IPC stream data`;
      break;
    }
    if (len - o < header + metaLen) {
      cut(header + metaLen);
      break;
    }
    const meta = o + header;
    const parsed = readMessageHeader(view, meta, metaLen);
    if (typeof parsed === "string") {
      out.invalid = `message ${out.messages} at byte ${o}: ${parsed}`;
      break;
    }
    const total = header + metaLen + parsed.bodyLength;
    if (len - o < total) {
      cut(total);
      break;
    }
    if (out.messages === 0) out.hasSchema = parsed.type === MESSAGE_SCHEMA;
    if (parsed.type === MESSAGE_RECORD_BATCH) out.recordBatches++;
    out.messages++;
    o += total;
    out.completeBytes = o;
  }
  return out;
}

/** Read header type and body length from a flatbuffer `Message` table. */
function readMessageHeader(
  view: DataView,
  start: number,
  size: number,
): { type: number; bodyLength: number } | string {
  const end = start + size;
  if (size < 8) return "metadata too short";
  const table = start + view.getUint32(start, true);
  if (table + 4 > end) return "metadata root offset out of range";
  const vtable = table - view.getInt32(table, true);
  if (vtable < start || vtable + 4 > end) return "metadata vtable out of range";
  const vtSize = view.getUint16(vtable, true);
  const field = (i: number) => {
    const at = 4 + 2 * i;
    return at + 2 <= vtSize ? view.getUint16(vtable + at, true) : 0;
  };
  const typeOff = field(1);
  const type = typeOff ? view.getUint8(table + typeOff) : 0;
  if (type < 1 || type > 5) return `unknown message type ${type}`;
  const bodyOff = field(3);
  let bodyLength = 0;
  if (bodyOff) {
    if (table + bodyOff + 8 > end) return "body length out of range";
    const lo = view.getUint32(table + bodyOff, true);
    const hi = view.getInt32(table + bodyOff + 4, true);
    bodyLength = hi * 4294967296 + lo;
    if (bodyLength < 0) return `negative body length ${bodyLength}`;
  }
  return { type, bodyLength };
}
