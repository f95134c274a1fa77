/**
 * Where a guest's own code starts: the address of its first instruction,
 * read from the image QEMU boots, so the boot-work plugin can tell firmware
 * from guest by the hand-over rather than by address alone. QEMU's order is
 * followed (`x86_load_linux` in QEMU 7.2): a Linux bzImage, else a multiboot
 * header, else an ELF with a PVH note; no `-kernel` means a disk boot, whose
 * first guest instruction is the boot sector at 0x7c00.
 *
 * @module
 */

/** The hand-over address and how it was found. */
export interface GuestEntry {
  /** Linear address of the guest's first instruction, or null (address rule). */
  entry: number | null;
  /** `bzimage`, `multiboot`, `multiboot-elf`, `pvh`, `boot-sector` or why none. */
  rule: string;
}

function argAfter(argv: string[], names: string[]): string | null {
  for (let i = 0; i < argv.length - 1; i++) {
    if (names.includes(argv[i])) return argv[i + 1];
  }
  return null;
}

/**
 * The entry of a kernel image's bytes (at least its first 64 KiB, or all of
 * it for ELF notes), or null when it is none of the formats QEMU loads.
 *
 * @example
 * ```ts
 * import { kernelEntry } from "./entry.ts";
 * const mb = new Uint8Array(64);
 * const dv = new DataView(mb.buffer);
 * dv.setUint32(0, 0x1badb002, true);
 * dv.setUint32(4, 0x10000, true); // a.out kludge: addresses in the header
 * dv.setUint32(8, (-(0x1badb002 + 0x10000)) >>> 0, true);
 * dv.setUint32(28, 0x100020, true);
 * console.log(kernelEntry(mb)); // { entry: 1048608, rule: "multiboot" }
 * ```
 */
export function kernelEntry(bytes: Uint8Array): GuestEntry | null {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (
    o: number,
  ) => (o + 4 <= bytes.length ? dv.getUint32(o, true) : 0);
  // Linux bzImage: "HdrS" at 0x202; QEMU puts the real-mode setup at 0x10000
  // (relocatable protocol >= 2.02) or 0x90000 and jumps to setup + 0x200.
  if (u32(0x202) === 0x53726448) {
    const protocol = dv.getUint16(0x206, true);
    const loadHigh = (bytes[0x211] & 1) !== 0;
    const real = protocol >= 0x202 && loadHigh ? 0x10000 : 0x90000;
    return { entry: real + 0x200, rule: "bzimage" };
  }
  // Multiboot v1: magic in the first 8 KiB, 4-byte aligned, with checksum.
  for (let o = 0; o + 12 <= Math.min(bytes.length, 8192); o += 4) {
    if (u32(o) !== 0x1badb002) continue;
    const flags = u32(o + 4);
    if (((u32(o) + flags + u32(o + 8)) >>> 0) !== 0) continue;
    if (flags & 0x10000) return { entry: u32(o + 28), rule: "multiboot" };
    const e = elfInfo(bytes);
    return e ? { entry: e.entry, rule: "multiboot-elf" } : null;
  }
  const e = elfInfo(bytes);
  if (e?.pvh !== undefined && e.pvh !== null) {
    return { entry: e.pvh, rule: "pvh" };
  }
  return null;
}

/** ELF entry point and PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, 18). */
function elfInfo(
  b: Uint8Array,
): { entry: number; pvh: number | null } | null {
  if (b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46) {
    return null;
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const is64 = b[4] === 2;
  const num = (o: number) =>
    is64 ? Number(dv.getBigUint64(o, true)) : dv.getUint32(o, true);
  const entry = num(24);
  const phoff = num(is64 ? 32 : 28);
  const phentsize = dv.getUint16(is64 ? 54 : 42, true);
  const phnum = dv.getUint16(is64 ? 56 : 44, true);
  let pvh: number | null = null;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + phentsize > b.length) break;
    if (dv.getUint32(ph, true) !== 4) continue; // PT_NOTE
    const off = num(ph + (is64 ? 8 : 4));
    const size = num(ph + (is64 ? 32 : 16));
    let p = off;
    while (p + 12 <= off + size && p + 12 <= b.length) {
      const namesz = dv.getUint32(p, true);
      const descsz = dv.getUint32(p + 4, true);
      const type = dv.getUint32(p + 8, true);
      const name = new TextDecoder().decode(b.subarray(p + 12, p + 12 + namesz))
        .replace(/\0+$/, "");
      const desc = p + 12 + ((namesz + 3) & ~3);
      if (name === "Xen" && type === 18 && desc + 4 <= b.length) {
        pvh = descsz >= 8
          ? Number(dv.getBigUint64(desc, true))
          : dv.getUint32(desc, true);
      }
      p = desc + ((descsz + 3) & ~3);
    }
  }
  return { entry, pvh };
}

/**
 * The guest entry of a QEMU argv: the `-kernel` image's entry, the boot
 * sector for a disk boot through SeaBIOS, or null (the address rule).
 *
 * @example
 * ```ts
 * import { guestEntry } from "./entry.ts";
 * console.log(await guestEntry(["qemu-system-x86_64", "-m", "64", "-drive", "file=osv.img"]));
 * // { entry: 31744, rule: "boot-sector" }: a disk boot starts at 0x7c00
 * console.log(await guestEntry(["qemu-system-x86_64", "-M", "microvm", "-drive", "file=osv.img"]));
 * // { entry: null, rule: "microvm without -kernel: address rule" }
 * // With -kernel, the image's entry (see kernelEntry): build/minkernel/minkernel.elf gives
 * // { entry: 1048588, rule: "multiboot-elf" }
 * ```
 */
export async function guestEntry(argv: string[]): Promise<GuestEntry> {
  const kernel = argAfter(argv, ["-kernel"]);
  const machine = argAfter(argv, ["-M", "-machine"]) ?? "";
  if (kernel) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(kernel);
    } catch {
      return { entry: null, rule: `cannot read ${kernel}: address rule` };
    }
    return kernelEntry(bytes) ??
      { entry: null, rule: "unknown kernel format: address rule" };
  }
  if (/microvm/.test(machine)) {
    return { entry: null, rule: "microvm without -kernel: address rule" };
  }
  return { entry: 0x7c00, rule: "boot-sector" };
}
