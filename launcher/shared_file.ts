/**
 * A file on tmpfs shared with child processes that write into it through
 * their own `mmap` (the boot-work plugin's slots, the memory sampler's
 * ring). The launcher maps it read-only through FFI, so reading a counter is
 * a memory load, no system call; without FFI it falls back to `pread`.
 *
 * @module
 */

type Libc = {
  symbols: {
    open: (path: BufferSource, flags: number, mode: number) => number;
    close: (fd: number) => number;
    mmap: (
      addr: Deno.PointerValue,
      len: number | bigint,
      prot: number,
      flags: number,
      fd: number,
      off: number | bigint,
    ) => Deno.PointerValue;
    munmap: (addr: Deno.PointerValue, len: number | bigint) => number;
  };
  close(): void;
};

function openLibc(): Libc | null {
  try {
    return Deno.dlopen("libc.so.6", {
      open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      mmap: {
        parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
        result: "pointer",
      },
      munmap: { parameters: ["pointer", "usize"], result: "i32" },
    }) as unknown as Libc;
  } catch {
    return null;
  }
}

/**
 * A zero-filled file of `bytes` bytes in `/dev/shm` (or $TMPDIR), mapped.
 *
 * @example
 * ```ts
 * import { SharedFile } from "./shared_file.ts";
 * const f = SharedFile.create("example", 4096);
 * console.log(f.u64(0)); // 0n
 * // A child process writes through its own mapping; a plain write to the file shows the same:
 * using w = await Deno.open(f.path, { write: true });
 * await w.write(new Uint8Array(new BigUint64Array([42n]).buffer));
 * console.log(f.u64(0), f.access); // 42n "mmap" ("pread" without FFI)
 * const bytes = new Uint8Array(16);
 * f.copy(0, bytes);
 * console.log(bytes[0], bytes[8]); // 42 0
 * f.close();
 * ```
 */
export class SharedFile {
  /** Its path (give it to the child process). */
  readonly path: string;
  /** Its size in bytes. */
  readonly bytes: number;
  #libc: Libc | null;
  #view: Deno.UnsafePointerView | null = null;
  #ptr: Deno.PointerValue = null;
  #file: Deno.FsFile | null = null;
  #buf = new Uint8Array(8);

  private constructor(path: string, bytes: number) {
    this.path = path;
    this.bytes = bytes;
    Deno.writeFileSync(path, new Uint8Array(bytes), { mode: 0o600 });
    this.#libc = openLibc();
    if (this.#libc) {
      const O_RDONLY = 0, PROT_READ = 1, MAP_SHARED = 1;
      const fd = this.#libc.symbols.open(
        new TextEncoder().encode(path + "\0"),
        O_RDONLY,
        0,
      );
      if (fd >= 0) {
        const p = this.#libc.symbols.mmap(
          null,
          BigInt(bytes),
          PROT_READ,
          MAP_SHARED,
          fd,
          0n,
        );
        this.#libc.symbols.close(fd);
        // MAP_FAILED is (void *)-1.
        if (p !== null && Deno.UnsafePointer.value(p) !== 0xffffffffffffffffn) {
          this.#ptr = p;
          this.#view = new Deno.UnsafePointerView(p);
        }
      }
    }
    if (!this.#view) this.#file = Deno.openSync(path, { read: true });
  }

  /** Create `bootstorm-<tag>-<pid>-<random>` of `bytes` (rounded up to 4 KiB). */
  static create(
    tag: string,
    bytes: number,
    options: { dir?: string } = {},
  ): SharedFile {
    let dir = options.dir;
    if (!dir) {
      try {
        dir = Deno.statSync("/dev/shm").isDirectory ? "/dev/shm" : undefined;
      } catch {
        dir = undefined;
      }
    }
    const path = `${
      dir ?? Deno.env.get("TMPDIR") ?? "/tmp"
    }/bootstorm-${tag}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    return new SharedFile(path, Math.max(4096, Math.ceil(bytes / 4096) * 4096));
  }

  /** How reads are made: `mmap` (no syscall) or `pread`. */
  get access(): "mmap" | "pread" {
    return this.#view ? "mmap" : "pread";
  }

  /** The little-endian u64 at byte offset `off`. */
  u64(off: number): bigint {
    if (this.#view) return this.#view.getBigUint64(off);
    this.#file!.seekSync(off, Deno.SeekMode.Start);
    this.#file!.readSync(this.#buf);
    return new DataView(this.#buf.buffer).getBigUint64(0, true);
  }

  /** Copy `into.length` bytes from byte offset `off` into `into`. */
  copy(off: number, into: Uint8Array): void {
    if (this.#view) return this.#view.copyInto(into, off);
    this.#file!.seekSync(off, Deno.SeekMode.Start);
    let got = 0;
    while (got < into.length) {
      const n = this.#file!.readSync(into.subarray(got));
      if (n === null) throw new Error(`${this.path}: short read at ${off}`);
      got += n;
    }
  }

  /** Unmap and remove the file. */
  close(): void {
    if (this.#ptr && this.#libc) {
      this.#libc.symbols.munmap(this.#ptr, BigInt(this.bytes));
    }
    this.#view = null;
    this.#ptr = null;
    this.#libc?.close();
    this.#libc = null;
    this.#file?.close();
    this.#file = null;
    try {
      Deno.removeSync(this.path);
    } catch {
      // already gone
    }
  }
}
