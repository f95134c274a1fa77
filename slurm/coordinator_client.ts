/**
 * A node agent's side of the storm's messages (see protocol.ts): requests
 * answered by the submitter, retried until answered, and the submitter's
 * pushes (`go`, `abort`).
 *
 * @module
 */
import dgram from "node:dgram";
import type { ClockSample, HostClock } from "./clock_offset.ts";
import { decode, encode, type Reply, type Request } from "./protocol.ts";

type Body<T> = T extends unknown ? Omit<T, "id" | "token" | "host"> : never;

/** The agent's UDP endpoint. */
export class CoordinatorClient {
  #next = 1;
  #waiting = new Map<number, (r: Reply) => void>();
  #onPush: ((r: Reply) => void) | null = null;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly to: { host: string; port: number },
    private readonly token: string,
    private readonly host: string,
  ) {
    socket.on("message", (msg) => {
      const r = decode<Reply>(msg);
      if (!r) return;
      const w = this.#waiting.get(r.id);
      if (w) {
        this.#waiting.delete(r.id);
        w(r);
      } else if (r.id === 0) this.#onPush?.(r);
    });
  }

  /** Open a socket toward the submitter. */
  static async open(options: {
    host: string;
    port: number;
    token: string;
    self: string;
  }): Promise<CoordinatorClient> {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((r) => socket.bind(0, () => r()));
    return new CoordinatorClient(
      socket,
      { host: options.host, port: options.port },
      options.token,
      options.self,
    );
  }

  /** Receive the submitter's pushes (`go`, `abort`). */
  onPush(handler: (r: Reply) => void): void {
    this.#onPush = handler;
  }

  #send(id: number, body: Body<Request>): void {
    const m = { ...body, id, token: this.token, host: this.host } as Request;
    this.socket.send(encode(m), this.to.port, this.to.host);
  }

  /**
   * Send a request until it is answered (every `retryMs`); rejects after
   * `timeoutMs` with a message naming the submitter's address.
   */
  request(
    body: Body<Request>,
    options: { timeoutMs?: number; retryMs?: number } = {},
  ): Promise<Reply> {
    const id = this.#next++;
    const timeoutMs = options.timeoutMs ?? 10000;
    return new Promise<Reply>((resolve, reject) => {
      const retry = setInterval(
        () => this.#send(id, body),
        options.retryMs ?? 200,
      );
      const timer = setTimeout(() => {
        clearInterval(retry);
        this.#waiting.delete(id);
        reject(
          new Error(
            `no answer from the submitting host at ${this.to.host}:${this.to.port} (UDP) within ${timeoutMs} ms; the nodes must reach it (pass --coordinator ADDRESS to deno task sweep --slurm)`,
          ),
        );
      }, timeoutMs);
      this.#waiting.set(id, (r) => {
        clearInterval(retry);
        clearTimeout(timer);
        resolve(r);
      });
      this.#send(id, body);
    });
  }

  /** `n` clock round trips, `gapMs` apart, on the host clock. */
  async roundTrips(
    n: number,
    clock: HostClock,
    gapMs = 3,
  ): Promise<ClockSample[]> {
    const out: ClockSample[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.#next++;
      const got = new Promise<Reply | null>((resolve) => {
        const timer = setTimeout(() => {
          this.#waiting.delete(id);
          resolve(null);
        }, 1000);
        this.#waiting.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
      });
      const t1 = clock.now();
      this.#send(id, { t: "clock" });
      const r = await got;
      const t4 = clock.now();
      if (r?.t === "clock") out.push({ t1, t2: r.t2, t4 });
      await new Promise((res) => setTimeout(res, gapMs));
    }
    if (out.length === 0) {
      throw new Error(
        `no answer to ${n} clock round trips from the submitting host at ${this.to.host}:${this.to.port} (UDP); the nodes must reach it (pass --coordinator ADDRESS)`,
      );
    }
    return out;
  }

  /** Close the socket. */
  close(): void {
    for (const w of this.#waiting.keys()) this.#waiting.delete(w);
    try {
      this.socket.close();
    } catch {
      // closed
    }
  }
}
