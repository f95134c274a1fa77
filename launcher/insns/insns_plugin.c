/*
 * bootstorm boot-work counter: a QEMU TCG plugin (QEMU 7.2 plugin API v1).
 *
 * It counts the instructions a guest executes from reset, and publishes the
 * counters live in a small shared-memory slot that the launcher reads at the
 * moment it sees the guest's first output and its ready line (T_e). The
 * counters are therefore the counts at those moments, not at exit (guests may
 * keep running after they are ready).
 *
 * Arguments (-plugin PATH,out=FILE,slot=N[,entry=ADDR][,mem=on|off]):
 *   out   a file (tmpfs, e.g. /dev/shm) of at least (slot+1)*SLOT_BYTES bytes,
 *         created by the launcher; one slot per instance
 *   slot  this instance's slot index
 *   entry the guest's first instruction (hex or decimal): the kernel's entry
 *         point for a direct kernel load (ELF, PVH note, multiboot header,
 *         Linux real-mode setup), 0x7c00 for a disk boot; the launcher reads
 *         it from the image
 *   mem   also count guest memory accesses (an inline add per access; off by
 *         default: it slows a guest by a further 15-25 %)
 *
 * Firmware and guest. Measured, not assumed (README, "Boot work"): SeaBIOS
 * and qboot run from the BIOS area (0xc0000-0xfffff: option ROMs, SeaBIOS)
 * and from the BIOS alias just below 4 GiB (the reset vector, qboot's 32-bit
 * code), but SeaBIOS also relocates its init code to the top of RAM, above
 * 1 MiB, where an address rule alone counts about 5 M firmware instructions
 * as the guest's. So with `entry`, everything before the first execution of
 * the entry address is firmware; after it, guest code is every block outside
 * the BIOS area and the alias (BIOS calls the guest makes stay firmware; a
 * guest's own real-mode code below 1 MiB, such as a boot sector at 0x7c00
 * or Linux's setup code, counts as the guest's). Without `entry` the
 * address rule applies: below 1 MiB or in the alias is firmware. `guest_addr`
 * always holds the address rule's count, for comparison.
 *
 * The counts at the guest's own output: QEMU writes each serial byte to
 * stdout with write()/writev() from inside the `out` instruction, and
 * output_shim.c (LD_PRELOAD) records this slot's counters at every such
 * write, so the launcher reads the count at the exact byte that completed
 * the ready line, however late it reads the pipe.
 *
 * Counting is per translation block (one inline add of the block's length
 * when it starts), as QEMU's own bb example does: a block left early by an
 * exception still counts whole. Inline adds are not atomic: with -smp > 1 the
 * counts are approximate.
 *
 * Build: gcc -shared -fPIC -O2 -I<dir of qemu-plugin.h> $(pkg-config --cflags glib-2.0)
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define SLOT_BYTES 16384
#define SLOT_MAGIC 0x6d726f7473746f62ULL /* "bootstorm" little-endian, 8 bytes */
#define SLOT_LAYOUT 5

/* One instance's counters; every field is a little-endian u64 (the launcher
 * reads them with the same offsets: launcher/insns/counters.ts). */
struct slot {
    uint64_t magic;          /*  0: SLOT_MAGIC once the plugin is loaded */
    uint64_t layout;         /*  8: SLOT_LAYOUT */
    uint64_t total;          /* 16: instructions executed, firmware included */
    uint64_t guest;          /* 24: instructions outside the firmware ranges */
    uint64_t before_guest;   /* 32: `total` at the first guest instruction; UINT64_MAX before */
    uint64_t io;             /* 40: port I/O instructions (in, out, ins, outs) */
    uint64_t system;         /* 48: system instructions (hlt, cli/sti, int, iret, lgdt, mov cr, rdmsr/wrmsr, cpuid, ...) */
    uint64_t mem;            /* 56: guest memory accesses (mem=on), else 0 */
    uint64_t code_pages;     /* 64: distinct 4 KiB guest code pages translated */
    uint64_t last_out_total; /* 72: `total` at the most recent port output instruction */
    uint64_t last_out_ns;    /* 80: CLOCK_MONOTONIC ns of that instruction */
    uint64_t translated;     /* 88: translation blocks translated */
    uint64_t guest_addr;     /* 96: guest instructions by the address rule alone */
    uint64_t entry;          /* 104: the entry address given, UINT64_MAX when none */
    uint64_t blocks;         /* 112: distinct guest translation blocks (by start address) */
    uint64_t block_insns;    /* 120: instructions in those distinct blocks: the guest's code footprint */
    uint64_t cr3_writes;     /* 128: mov to CR3 executed: address-space switches */
    uint64_t syscalls;       /* 136: syscall, sysenter and int 0x80 executed: system calls */
    uint64_t reserved[6];    /* 144-191 */
    /* 192-255: written by output_shim.c (stdout writes), see there. */
};

static struct slot *s;
static bool count_mem = false;
static bool have_entry;
static uint64_t entry;
static bool handed_over;
static GHashTable *pages;
static GHashTable *blocks;
static GMutex lock;

/* The BIOS alias in the last 256 KiB below 4 GiB. */
static bool in_alias(uint64_t vaddr)
{
    return vaddr >= 0xfffc0000ULL && vaddr < 0x100000000ULL;
}

/* Firmware code after the hand-over: the BIOS area (option ROMs, SeaBIOS,
 * qboot) and the alias. */
static bool in_bios_area(uint64_t vaddr)
{
    return (vaddr >= 0xc0000ULL && vaddr < 0x100000ULL) || in_alias(vaddr);
}

/* The address rule: below 1 MiB or in the alias is firmware. */
static bool firmware_by_address(uint64_t vaddr)
{
    return vaddr < 0x100000ULL || in_alias(vaddr);
}

enum kind { K_OTHER, K_IO_IN, K_IO_OUT, K_SYSTEM, K_CR3, K_SYSCALL };

/* Classify one x86 instruction from its bytes (QEMU hands over exactly one
 * instruction, so skipping prefix-like bytes cannot run into the next one). */
static enum kind classify(const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i < n && (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf0 ||
                     b[i] == 0xf2 || b[i] == 0xf3 || b[i] == 0x26 ||
                     b[i] == 0x2e || b[i] == 0x36 || b[i] == 0x3e ||
                     b[i] == 0x64 || b[i] == 0x65 ||
                     (b[i] >= 0x40 && b[i] <= 0x4f && i + 1 < n))) {
        i++;
    }
    if (i >= n) {
        return K_OTHER;
    }
    uint8_t op = b[i];
    switch (op) {
    case 0xe4: case 0xe5: case 0xec: case 0xed: case 0x6c: case 0x6d:
        return K_IO_IN;
    case 0xe6: case 0xe7: case 0xee: case 0xef: case 0x6e: case 0x6f:
        return K_IO_OUT;
    case 0xcd:
        return (i + 1 < n && b[i + 1] == 0x80) ? K_SYSCALL : K_SYSTEM;
    case 0xf4: case 0xfa: case 0xfb: case 0xcf: case 0xcc:
        return K_SYSTEM;
    case 0x0f:
        if (i + 1 >= n) {
            return K_OTHER;
        }
        switch (b[i + 1]) {
        case 0x05: case 0x34:
            return K_SYSCALL;
        case 0x22: /* mov to a control register: the reg field names it */
            return (i + 2 < n && ((b[i + 2] >> 3) & 7) == 3) ? K_CR3 : K_SYSTEM;
        case 0x00: case 0x01: case 0x06: case 0x07: case 0x08:
        case 0x09: case 0x20: case 0x21: case 0x23: case 0x30:
        case 0x31: case 0x32: case 0x33: case 0x35: case 0xa2:
        case 0xaa:
            return K_SYSTEM;
        }
        return K_OTHER;
    }
    return K_OTHER;
}

static void on_out(unsigned int vcpu, void *udata)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s->last_out_total = s->total;
    s->last_out_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
    size_t n = qemu_plugin_tb_n_insns(tb);
    bool guest;

    /* Blocks are translated right before they first run, so the first
     * translation of the entry block is the hand-over from the firmware. */
    if (have_entry) {
        if (!handed_over && vaddr == entry) {
            handed_over = true;
            s->before_guest = s->total;
        }
        guest = handed_over && !in_bios_area(vaddr);
    } else {
        guest = !firmware_by_address(vaddr);
        if (guest && s->before_guest == UINT64_MAX) {
            s->before_guest = s->total;
        }
    }

    s->translated++;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
                                             &s->total, n);
    if (!firmware_by_address(vaddr)) {
        qemu_plugin_register_vcpu_tb_exec_inline(
            tb, QEMU_PLUGIN_INLINE_ADD_U64, &s->guest_addr, n);
    }
    if (guest) {
        qemu_plugin_register_vcpu_tb_exec_inline(
            tb, QEMU_PLUGIN_INLINE_ADD_U64, &s->guest, n);
        g_mutex_lock(&lock);
        gpointer page = GSIZE_TO_POINTER((gsize)(vaddr >> 12) + 1);
        if (!g_hash_table_contains(pages, page)) {
            g_hash_table_add(pages, page);
            s->code_pages++;
        }
        /* The footprint: a block retranslated (after a flush) counts once.
         * Unlike the dynamic counts it does not grow with a busy-wait. */
        gpointer block = GSIZE_TO_POINTER((gsize)vaddr + 1);
        if (!g_hash_table_contains(blocks, block)) {
            g_hash_table_add(blocks, block);
            s->blocks++;
            s->block_insns += n;
        }
        g_mutex_unlock(&lock);
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        enum kind k = classify(qemu_plugin_insn_data(insn),
                               qemu_plugin_insn_size(insn));
        if (k == K_IO_IN || k == K_IO_OUT) {
            qemu_plugin_register_vcpu_insn_exec_inline(
                insn, QEMU_PLUGIN_INLINE_ADD_U64, &s->io, 1);
        } else if (k == K_SYSTEM || k == K_CR3 || k == K_SYSCALL) {
            qemu_plugin_register_vcpu_insn_exec_inline(
                insn, QEMU_PLUGIN_INLINE_ADD_U64, &s->system, 1);
        }
        if (k == K_CR3) {
            qemu_plugin_register_vcpu_insn_exec_inline(
                insn, QEMU_PLUGIN_INLINE_ADD_U64, &s->cr3_writes, 1);
        } else if (k == K_SYSCALL) {
            qemu_plugin_register_vcpu_insn_exec_inline(
                insn, QEMU_PLUGIN_INLINE_ADD_U64, &s->syscalls, 1);
        }
        if (k == K_IO_OUT) {
            qemu_plugin_register_vcpu_insn_exec_cb(
                insn, on_out, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        if (count_mem) {
            qemu_plugin_register_vcpu_mem_inline(
                insn, QEMU_PLUGIN_MEM_RW, QEMU_PLUGIN_INLINE_ADD_U64,
                &s->mem, 1);
        }
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
                                           const qemu_info_t *info, int argc,
                                           char **argv)
{
    const char *out = NULL;
    long slot = -1;
    for (int i = 0; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "out=")) {
            out = argv[i] + 4;
        } else if (g_str_has_prefix(argv[i], "slot=")) {
            slot = strtol(argv[i] + 5, NULL, 10);
        } else if (g_str_has_prefix(argv[i], "entry=")) {
            char *end;
            entry = strtoull(argv[i] + 6, &end, 0);
            if (*end != 0) {
                fprintf(stderr, "bootstorm-insns: bad argument %s\n", argv[i]);
                return -1;
            }
            have_entry = true;
        } else if (g_str_has_prefix(argv[i], "mem=")) {
            if (!qemu_plugin_bool_parse("mem", argv[i] + 4, &count_mem)) {
                fprintf(stderr, "bootstorm-insns: bad argument %s\n", argv[i]);
                return -1;
            }
        } else {
            fprintf(stderr, "bootstorm-insns: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    if (!out || slot < 0) {
        fprintf(stderr, "bootstorm-insns: needs out=FILE,slot=N\n");
        return -1;
    }
    int fd = open(out, O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "bootstorm-insns: cannot open %s: %s\n", out,
                strerror(errno));
        return -1;
    }
    off_t off = (off_t)slot * SLOT_BYTES; /* a multiple of the page size */
    off_t base = off;
    void *map = mmap(NULL, SLOT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                     base);
    close(fd);
    if (map == MAP_FAILED) {
        fprintf(stderr, "bootstorm-insns: cannot map slot %ld of %s: %s\n",
                slot, out, strerror(errno));
        return -1;
    }
    s = (struct slot *)((char *)map + (off - base));
    /* Only the plugin's part: the shim may already have written its own. */
    memset(s, 0, sizeof(*s));
    s->before_guest = UINT64_MAX;
    s->layout = SLOT_LAYOUT;
    s->entry = have_entry ? entry : UINT64_MAX;
    pages = g_hash_table_new(g_direct_hash, g_direct_equal);
    blocks = g_hash_table_new(g_direct_hash, g_direct_equal);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    __atomic_store_n(&s->magic, SLOT_MAGIC, __ATOMIC_RELEASE);
    return 0;
}
