/**
 * The submitting host's side of a storm while its job runs: answers clock
 * round trips, collects each node's pre-flight verdict and readiness,
 * decides T_0 once every node is ready and tells every node at once, and
 * records when each node was last heard from. It lives inside
 * `deno task sweep --slurm` for the duration of the job (no daemon);
 * Slurm starts the agents.
 *
 * @module
 */
import dgram from "node:dgram";
import { realtimeMs } from "./clock_offset.ts";
import {
  decode,
  encode,
  type Preflight,
  type Reply,
  type Request,
} from "./protocol.ts";
import { chooseStartInstant } from "./start_instant.ts";

/** What the coordinator tells the submitter as the storm goes. */
export type CoordinatorEvent =
  | { type: "hello"; host: string; preflight: Preflight }
  | { type: "prestart" }
  | { type: "abort"; reason: string }
  | { type: "ready"; host: string }
  | { type: "go"; t0: number }
  | { type: "beat"; host: string; started: number; ended: number }
  | { type: "done"; host: string };

/** Options of {@link Coordinator.start}. */
export interface CoordinatorOptions {
  /** Address to listen on (the local cluster: its bridge address). */
  bind: string;
  /** UDP port (default: any free one). */
  port?: number;
  /** Storm token every message must carry. */
  token: string;
  /** Nodes expected. */
  nodes: number;
  /** T_0 = the instant every node is ready + this, ms. */
  marginMs: number;
  /** Run even when nodes sharing a kernel together exceed its memory. */
  force?: boolean;
  /** The submitter's clock (default CLOCK_REALTIME), ms since the epoch. */
  clock?: () => number;
  /** Told of each step: a node's hello, prestart, go (T_0), a node done. */
  onEvent?: (ev: CoordinatorEvent) => void;
}

/** A hello as kept by the coordinator. */
export type Hello = Extract<Request, { t: "hello" }>;
/** A done report as kept by the coordinator. */
export type Done = Extract<Request, { t: "done" }>;

/**
 * Nodes that share one kernel (same boot_id) share its memory: their
 * estimated peaks add up. Returns an error for each group that does not
 * fit in 90% of the group's MemAvailable.
 *
 * @example
 * ```ts
 * import { sharedMemoryErrors } from "./coordinator.ts";
 * const p = (count: number) => ({ ok: true, error: null, boot_id: "b", available_kib: 1000, estimated_peak_kib: 400, count });
 * console.log(sharedMemoryErrors([["node1", p(4)], ["node2", p(4)], ["node3", p(4)]]).length); // 1
 * ```
 */
export function sharedMemoryErrors(
  nodes: readonly [string, Preflight][],
): string[] {
  const groups = new Map<string, [string, Preflight][]>();
  for (const n of nodes) {
    if (!n[1].boot_id) continue;
    groups.set(n[1].boot_id, [...(groups.get(n[1].boot_id) ?? []), n]);
  }
  const out: string[] = [];
  const mib = (k: number) => `${Math.round(k / 1024)} MiB`;
  for (const [boot, g] of groups) {
    if (g.length < 2) continue;
    const need = g.reduce((s, [, p]) => s + p.estimated_peak_kib, 0);
    const avail = Math.min(...g.map(([, p]) => p.available_kib));
    if (need > avail * 0.9) {
      out.push(
        `nodes ${
          g.map(([h]) => h).join(", ")
        } share one kernel (boot_id ${boot}): together their ${
          g.reduce((s, [, p]) => s + p.count, 0)
        } instances need about ${mib(need)} but ${
          mib(avail)
        } is available (90% usable: ${
          mib(avail * 0.9)
        }); lower --count / --total or pass --force`,
      );
    }
  }
  return out;
}

/** The submitter's UDP endpoint for one storm. */
export class Coordinator {
  /** The hello of each node, by host. */
  readonly hellos: Map<string, Hello> = new Map();
  /** Hosts whose instances are all pre-started. */
  readonly ready: Set<string> = new Set();
  /** The done report of each node that finished, by host. */
  readonly done: Map<string, Done> = new Map();
  /** When each node was last heard from, submitter clock (ms since the epoch). */
  readonly lastHeard: Map<string, number> = new Map();
  /** Latest progress per node. */
  readonly progress: Map<string, { started: number; ended: number }> =
    new Map();
  /** T_0 on the submitter's clock, once decided. */
  t0: number | null = null;
  /** Why the storm was called off before T_0, if it was. */
  abortReason: string | null = null;
  #phase: "hello" | "prestart" = "hello";
  #addr: Map<string, { address: string; port: number }> = new Map();
  #clock: () => number;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly options: CoordinatorOptions,
  ) {
    this.#clock = options.clock ?? realtimeMs;
    socket.on("message", (msg, rinfo) => this.#onMessage(msg, rinfo));
  }

  /** Listen; resolves once bound. */
  static async start(options: CoordinatorOptions): Promise<Coordinator> {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(options.port ?? 0, options.bind, () => {
        socket.off("error", reject);
        resolve();
      });
    }).catch((e) => {
      throw new Error(
        `Cannot listen for the storm's nodes on ${options.bind}:${
          options.port ?? 0
        } (UDP): ${
          (e as Error).message
        }; pass --coordinator ADDRESS (an address of this host the nodes can reach)`,
      );
    });
    return new Coordinator(socket, options);
  }

  /** The bound address and port. */
  get address(): { host: string; port: number } {
    const a = this.socket.address();
    return { host: a.address, port: a.port };
  }

  /** Call the storm off (before T_0): every node is told at once. */
  abort(reason: string): void {
    if (this.abortReason !== null || this.t0 !== null) return;
    this.abortReason = reason;
    this.options.onEvent?.({ type: "abort", reason });
    for (const a of this.#addr.values()) {
      this.#send({ t: "abort", id: 0, reason }, a);
    }
  }

  /** Stop listening. */
  close(): void {
    try {
      this.socket.close();
    } catch {
      // closed
    }
  }

  #send(m: Reply, to: { address: string; port: number }): void {
    this.socket.send(encode(m), to.port, to.address);
  }

  #onMessage(msg: Uint8Array, rinfo: { address: string; port: number }) {
    const now = this.#clock();
    const m = decode<Request>(msg);
    if (!m || m.token !== this.options.token) return;
    const to = { address: rinfo.address, port: rinfo.port };
    if (m.t === "clock") {
      return this.#send({ t: "clock", id: m.id, t2: now }, to);
    }
    this.#addr.set(m.host, to);
    this.lastHeard.set(m.host, now);
    const ev = this.options.onEvent;
    switch (m.t) {
      case "hello": {
        if (!this.hellos.has(m.host)) {
          this.hellos.set(m.host, m);
          ev?.({ type: "hello", host: m.host, preflight: m.preflight });
        }
        if (
          this.hellos.size === this.options.nodes && this.#phase === "hello"
        ) {
          const nodes = [...this.hellos.values()];
          const errors = nodes.filter((h) => !h.preflight.ok).map((h) =>
            `${h.host}: ${h.preflight.error}`
          );
          if (!this.options.force) {
            errors.push(
              ...sharedMemoryErrors(nodes.map((h) => [h.host, h.preflight])),
            );
          }
          if (errors.length) this.abort(errors.join("; "));
          else {
            this.#phase = "prestart";
            ev?.({ type: "prestart" });
          }
        }
        return this.#send(this.#verdict(m.id, m.host), to);
      }
      case "ready": {
        if (this.#phase === "prestart" && !this.ready.has(m.host)) {
          this.ready.add(m.host);
          ev?.({ type: "ready", host: m.host });
          if (this.ready.size === this.options.nodes && this.t0 === null) {
            this.t0 = chooseStartInstant(this.#clock(), this.options.marginMs);
            ev?.({ type: "go", t0: this.t0 });
            for (const a of this.#addr.values()) {
              this.#send({ t: "go", id: 0, t0: this.t0 }, a);
            }
          }
        }
        if (this.abortReason !== null) {
          return this.#send(
            { t: "abort", id: m.id, reason: this.abortReason },
            to,
          );
        }
        return this.#send(
          this.t0 !== null
            ? { t: "go", id: m.id, t0: this.t0 }
            : { t: "wait", id: m.id },
          to,
        );
      }
      case "beat":
        this.progress.set(m.host, { started: m.started, ended: m.ended });
        ev?.({
          type: "beat",
          host: m.host,
          started: m.started,
          ended: m.ended,
        });
        return this.#send({ t: "ok", id: m.id }, to);
      case "done":
        if (!this.done.has(m.host)) {
          this.done.set(m.host, m);
          ev?.({ type: "done", host: m.host });
        }
        return this.#send({ t: "ok", id: m.id }, to);
    }
  }

  #verdict(id: number, host: string): Reply {
    if (this.abortReason !== null) {
      return { t: "abort", id, reason: this.abortReason };
    }
    if (this.#phase !== "prestart") return { t: "wait", id };
    const boot = this.hellos.get(host)?.preflight.boot_id ?? null;
    const peers = boot === null
      ? 1
      : [...this.hellos.values()].filter((h) => h.preflight.boot_id === boot)
        .length;
    return { t: "prestart", id, peers };
  }
}
