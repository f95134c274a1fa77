/**
 * A minimal QMP client for phase mode: wait for QEMU's greeting on a unix
 * socket (QEMU initialised: `vmm_ready_ms`), negotiate capabilities, send
 * `cont` to the instance started paused with `-S`, and report when `cont`
 * was acknowledged (the guest starts: the paper's T_K).
 *
 * @module
 */

/** Times of the handshake, on the caller's clock. */
export interface QmpTimes {
  vmmReady: number;
  tK: number;
}

/** QEMU arguments that start an instance paused with a QMP socket. */
export function phaseArgs(socketPath: string): string[] {
  return ["-S", "-qmp", `unix:${socketPath},server=on,wait=off`];
}

async function readLine(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  buf: { text: string },
): Promise<Record<string, unknown>> {
  const dec = new TextDecoder();
  while (true) {
    const nl = buf.text.indexOf("\n");
    if (nl >= 0) {
      const line = buf.text.slice(0, nl).trim();
      buf.text = buf.text.slice(nl + 1);
      if (line) {
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (!("event" in msg)) return msg; // skip asynchronous events
      }
      continue;
    }
    const { value, done } = await reader.read();
    if (done) throw new Error("QMP socket closed");
    buf.text += dec.decode(value);
  }
}

/**
 * Connect to a QMP socket (retrying until it exists), then `cont`.
 * Rejects when `signal` aborts or QEMU answers with an error.
 *
 * @example
 * ```ts ignore
 * const t = await qmpStart("/tmp/qmp.sock", { now: () => performance.now() });
 * ```
 */
export async function qmpStart(
  socketPath: string,
  options: { now: () => number; signal?: AbortSignal },
): Promise<QmpTimes> {
  let conn: Deno.UnixConn | null = null;
  while (conn === null) {
    if (options.signal?.aborted) throw new Error("QMP handshake aborted");
    try {
      conn = await Deno.connect({ transport: "unix", path: socketPath });
    } catch {
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  const c = conn;
  const onAbort = () => {
    try {
      c.close();
    } catch { /* closed */ }
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const reader = c.readable.getReader();
  const writer = c.writable.getWriter();
  const enc = new TextEncoder();
  const buf = { text: "" };
  try {
    const greeting = await readLine(reader, buf);
    const vmmReady = options.now();
    if (!("QMP" in greeting)) {
      throw new Error(`unexpected QMP greeting ${JSON.stringify(greeting)}`);
    }
    await writer.write(enc.encode('{"execute":"qmp_capabilities"}\n'));
    const caps = await readLine(reader, buf);
    if (!("return" in caps)) {
      throw new Error(`qmp_capabilities failed: ${JSON.stringify(caps)}`);
    }
    await writer.write(enc.encode('{"execute":"cont"}\n'));
    const cont = await readLine(reader, buf);
    const tK = options.now();
    if (!("return" in cont)) {
      throw new Error(`cont failed: ${JSON.stringify(cont)}`);
    }
    return { vmmReady, tK };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    try {
      c.close();
    } catch { /* closed */ }
  }
}
