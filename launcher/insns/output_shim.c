/*
 * bootstorm output shim (LD_PRELOAD into QEMU, next to the boot-work plugin).
 *
 * QEMU writes every byte the guest sends to its serial console to stdout
 * with write() or writev(), from inside the guest's `out` instruction. This
 * shim wraps both: after each successful write to fd 1 it appends
 * (stdout bytes so far, and the plugin's counters) to a ring in the
 * instance's slot, reading the counters the plugin keeps in the same
 * shared mapping. The launcher then takes the counts at the exact byte that
 * completed the first output and the ready line, independent of how late it
 * got to read the pipe.
 *
 * Environment: BOOTSTORM_INSNS_SLOT=<slot file>:<slot index> (set by the
 * launcher). Without it, or when the file cannot be mapped, it only passes
 * the calls through.
 *
 * Slot layout from byte 192 (u64 little-endian; launcher/insns/slots.ts):
 *   192 writes       number of ring entries appended (release-ordered)
 *   200 bytes        stdout bytes written so far
 *   208 first_total  total instructions at the first write
 *   216 first_guest  guest instructions at the first write
 *   256..16383       ring of RING entries {bytes_end, total, guest, io,
 *                    system, mem, blocks, block_insns, cr3_writes, syscalls}:
 *                    the plugin's counters (slot words 2, 3, 5, 6, 7, 14,
 *                    15, 16, 17) at the write
 *
 * Build: gcc -shared -fPIC -O2 -o output_shim.so output_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define SLOT_BYTES 16384
#define RING_OFFSET 256
#define FIELDS 10
#define RING ((SLOT_BYTES - RING_OFFSET) / (8 * FIELDS))

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t *slot; /* NULL until mapped */
static int state;               /* 0 not tried, 1 mapped, -1 unavailable */

static void map_slot(void)
{
    const char *env = getenv("BOOTSTORM_INSNS_SLOT");
    state = -1;
    if (!env) {
        return;
    }
    const char *colon = strrchr(env, ':');
    if (!colon) {
        return;
    }
    char path[4096];
    size_t len = (size_t)(colon - env);
    if (len >= sizeof(path)) {
        return;
    }
    memcpy(path, env, len);
    path[len] = 0;
    long index = strtol(colon + 1, NULL, 10);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    void *map = mmap(NULL, SLOT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                     (off_t)index * SLOT_BYTES);
    close(fd);
    if (map == MAP_FAILED) {
        return;
    }
    slot = (volatile uint64_t *)map;
    state = 1;
}

static void record(ssize_t n)
{
    if (n <= 0) {
        return;
    }
    pthread_mutex_lock(&lock);
    if (state == 0) {
        map_slot();
    }
    if (state == 1) {
        uint64_t total = slot[2], guest = slot[3];
        uint64_t w = slot[24];
        uint64_t bytes = slot[25] + (uint64_t)n;
        if (w == 0) {
            slot[26] = total;
            slot[27] = guest;
        }
        volatile uint64_t *e = slot + RING_OFFSET / 8 + (w % RING) * FIELDS;
        e[0] = bytes;
        e[1] = total;
        e[2] = guest;
        e[3] = slot[5];
        e[4] = slot[6];
        e[5] = slot[7];
        e[6] = slot[14];
        e[7] = slot[15];
        e[8] = slot[16];
        e[9] = slot[17];
        slot[25] = bytes;
        __atomic_store_n(&slot[24], w + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lock);
}

ssize_t write(int fd, const void *buf, size_t count)
{
    if (!real_write) {
        real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    }
    ssize_t n = real_write(fd, buf, count);
    if (fd == 1) {
        record(n);
    }
    return n;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (!real_writev) {
        real_writev = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    }
    ssize_t n = real_writev(fd, iov, iovcnt);
    if (fd == 1) {
        record(n);
    }
    return n;
}
