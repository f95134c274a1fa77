/*
 * bootstorm output shim (LD_PRELOAD into QEMU, next to the boot-work plugin).
 *
 * QEMU writes every byte the guest sends to its serial console to stdout
 * with write() or writev(), from inside the guest's `out` instruction. This
 * shim wraps both: just before each write to fd 1 it appends (stdout bytes
 * at the end of that write, and the plugin's counters) to a ring in the
 * instance's slot (corrected if the write comes up short), reading the counters the plugin keeps in the same
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

/*
 * Append the ring entry of a write of `count` bytes before the write is
 * made, so it is in place before the reader can see the bytes (a launcher
 * that wakes at once on the pipe would otherwise look before the entry
 * exists, and a SIGKILL right after the write would lose it). The counters
 * are the same either way: the write happens inside the guest's `out`.
 * Returns the entry (NULL when not mapped) and the byte count before it.
 * Called with `lock` held.
 */
static volatile uint64_t *reserve(size_t count, uint64_t *before)
{
    if (state == 0) {
        map_slot();
    }
    if (state != 1 || count == 0) {
        return NULL;
    }
    uint64_t total = slot[2], guest = slot[3];
    uint64_t w = slot[24];
    *before = slot[25];
    uint64_t bytes = *before + (uint64_t)count;
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
    return e;
}

/* A short or failed write: the entry ends where the bytes really ended. */
static void settle(volatile uint64_t *e, uint64_t before, size_t count, ssize_t n)
{
    if (e == NULL || n == (ssize_t)count) {
        return;
    }
    uint64_t end = before + (uint64_t)(n > 0 ? n : 0);
    e[0] = end;
    slot[25] = end;
}

ssize_t write(int fd, const void *buf, size_t count)
{
    if (!real_write) {
        real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    }
    if (fd != 1) {
        return real_write(fd, buf, count);
    }
    /* Held across the write: stdout writes are ordered like their entries. */
    pthread_mutex_lock(&lock);
    uint64_t before = 0;
    volatile uint64_t *e = reserve(count, &before);
    ssize_t n = real_write(fd, buf, count);
    settle(e, before, count, n);
    pthread_mutex_unlock(&lock);
    return n;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (!real_writev) {
        real_writev = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    }
    if (fd != 1) {
        return real_writev(fd, iov, iovcnt);
    }
    size_t count = 0;
    for (int i = 0; i < iovcnt; i++) {
        count += iov[i].iov_len;
    }
    pthread_mutex_lock(&lock);
    uint64_t before = 0;
    volatile uint64_t *e = reserve(count, &before);
    ssize_t n = real_writev(fd, iov, iovcnt);
    settle(e, before, count, n);
    pthread_mutex_unlock(&lock);
    return n;
}
