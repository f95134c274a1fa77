/**
 * The boot-work counters of a batch: one 16 KiB slot per instance in a file
 * on tmpfs, written live by the plugin inside each QEMU (through its own
 * shared mapping), plus a ring that the output shim appends to at every
 * stdout write of QEMU: the counters at each byte the guest printed. The
 * launcher maps the file too (mmap through FFI), so a read is a few memory
 * loads, no system call, on the hot path of the ready line.
 *
 * @module
 */
import { SharedFile } from "../shared_file.ts";

/** Bytes per instance; must match SLOT_BYTES in insns_plugin.c and output_shim.c. */
export const SLOT_BYTES = 16384;
/** Where output_shim.c's ring of stdout writes starts, its entry size and length. */
const RING_OFFSET = 256;
const FIELDS = 10;
const RING = Math.floor((SLOT_BYTES - RING_OFFSET) / (8 * FIELDS));
/** "bootstorm" as the plugin writes it once loaded. */
const SLOT_MAGIC = 0x6d726f7473746f62n;

/** The counters of one instance at one moment (see insns_plugin.c). */
export interface InsnsCounters {
  /** Instructions executed from reset, firmware included. */
  total: number;
  /** Instructions outside the firmware address ranges. */
  guest: number;
  /** `total` at the first guest instruction; null before the hand-over. */
  beforeGuest: number | null;
  /** Port I/O instructions executed. */
  io: number;
  /** System instructions executed. */
  system: number;
  /** Guest memory accesses. */
  mem: number;
  /** Distinct 4 KiB guest code pages translated. */
  codePages: number;
  /** `total` at the most recent port output instruction. */
  lastOutTotal: number;
  /** Guest instructions by the address rule alone (above 1 MiB, outside the alias). */
  guestAddr: number;
  /** Distinct guest translation blocks. */
  blocks: number;
  /** Instructions in the distinct guest blocks: the guest's code footprint. */
  blockInsns: number;
  /** Writes to CR3 (address-space switches). */
  cr3Writes: number;
  /** System calls (syscall, sysenter, int 0x80). */
  syscalls: number;
}

/** The counters at one stdout write (from the output shim's ring). */
export interface OutputCounts {
  /** Total instructions when the write happened. */
  total: number;
  /** Guest instructions when the write happened. */
  guest: number;
  /** The other counters then; absent for the first write (kept apart). */
  io?: number;
  /** System instructions then (see {@link InsnsCounters.system}). */
  system?: number;
  /** Guest memory accesses then. */
  mem?: number;
  /** Distinct guest translation blocks then. */
  blocks?: number;
  /** Instructions in the distinct guest blocks then. */
  blockInsns?: number;
  /** Writes to CR3 then. */
  cr3Writes?: number;
  /** System calls then. */
  syscalls?: number;
}

/**
 * A slot file for `count` instances.
 *
 * @example
 * ```ts
 * import { InsnsSlots } from "./slots.ts";
 * const slots = InsnsSlots.create(2);
 * console.log(slots.read(0)); // null: no plugin has written slot 0
 * slots.close();
 * ```
 */
export class InsnsSlots {
  /** The file each plugin instance maps (`out=` argument). */
  readonly path: string;
  /** Instances (one slot each). */
  readonly count: number;
  #file: SharedFile;

  private constructor(file: SharedFile, count: number) {
    this.#file = file;
    this.path = file.path;
    this.count = count;
  }

  /** Create the slot file on tmpfs (`/dev/shm` when present). */
  static create(count: number, options: { dir?: string } = {}): InsnsSlots {
    return new InsnsSlots(
      SharedFile.create("insns", count * SLOT_BYTES, options),
      count,
    );
  }

  /** How the launcher reads the slots: `mmap` (no syscall) or `pread`. */
  get access(): "mmap" | "pread" {
    return this.#file.access;
  }

  /** The environment of instance `i`: the output shim and its slot. */
  shimEnv(shimPath: string, i: number): Record<string, string> {
    return { LD_PRELOAD: shimPath, BOOTSTORM_INSNS_SLOT: `${this.path}:${i}` };
  }

  /** The `-plugin` argument of instance `i`. */
  pluginArg(
    pluginPath: string,
    i: number,
    options: { mem?: boolean; entry?: number | null } = {},
  ): string {
    return `${pluginPath},out=${this.path},slot=${i}${
      options.entry != null ? `,entry=0x${options.entry.toString(16)}` : ""
    }${options.mem ? ",mem=on" : ""}`;
  }

  /** The counters of instance `i` now; null when its plugin never loaded. */
  read(i: number): InsnsCounters | null {
    const u = (k: number) => this.#u64(i, k);
    if (u(0) !== SLOT_MAGIC) return null;
    const before = u(4);
    return {
      total: Number(u(2)),
      guest: Number(u(3)),
      beforeGuest: before === 0xffffffffffffffffn ? null : Number(before),
      io: Number(u(5)),
      system: Number(u(6)),
      mem: Number(u(7)),
      codePages: Number(u(8)),
      lastOutTotal: Number(u(9)),
      guestAddr: Number(u(12)),
      blocks: Number(u(14)),
      blockInsns: Number(u(15)),
      cr3Writes: Number(u(16)),
      syscalls: Number(u(17)),
    };
  }

  #u64(i: number, k: number): bigint {
    return this.#file.u64(i * SLOT_BYTES + 8 * k);
  }

  /**
   * The counters at the stdout write that carried byte `byte` (0-based) of
   * instance `i`'s output, from the output shim's ring; null when the shim
   * recorded nothing or that write has left the ring.
   */
  atByte(i: number, byte: number): OutputCounts | null {
    if (this.#u64(i, 0) !== SLOT_MAGIC) return null;
    if (byte === 0) {
      if (this.#u64(i, 24) === 0n) return null;
      return {
        total: Number(this.#u64(i, 26)),
        guest: Number(this.#u64(i, 27)),
      };
    }
    const writes = Number(this.#u64(i, 24));
    const target = BigInt(byte);
    for (let w = Math.max(0, writes - RING); w < writes; w++) {
      const k = RING_OFFSET / 8 + (w % RING) * FIELDS;
      if (this.#u64(i, k) > target) {
        // The first write whose end passes the byte carried it, unless it
        // is the oldest one left in a ring that has wrapped (the byte may
        // belong to a write already overwritten).
        if (writes > RING && w === writes - RING) return null;
        const n = (j: number) => Number(this.#u64(i, k + j));
        return {
          total: n(1),
          guest: n(2),
          io: n(3),
          system: n(4),
          mem: n(5),
          blocks: n(6),
          blockInsns: n(7),
          cr3Writes: n(8),
          syscalls: n(9),
        };
      }
    }
    return null;
  }

  /** Unmap and remove the file. */
  close(): void {
    this.#file.close();
  }
}
