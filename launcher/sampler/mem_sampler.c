/*
 * bootstorm memory sampler: a small process that samples memory on a fixed
 * absolute schedule (clock_nanosleep TIMER_ABSTIME on CLOCK_MONOTONIC, the
 * launcher's clock) and appends the samples to a ring in a shared file that
 * the launcher maps and drains every 100 ms. No text goes through a pipe and
 * no JavaScript thread wakes 2,000 times a second.
 *
 * Sources, each optional:
 *   --cgroup FILE   a cgroup's usage file (v1 memory.usage_in_bytes, v2
 *                   memory.current): the run's own instances, exact and
 *                   attributable; read every tick (one pread, ~1 us)
 *   --meminfo K     whole-system MemTotal - MemAvailable from /proc/meminfo
 *                   (the paper's measure) every K ticks (~10 us a read; the
 *                   kernel folds it only every vm.stat_interval anyway)
 *
 * Usage: mem_sampler --out FILE --interval-us US [--cgroup FILE]
 *        [--meminfo K] [--fifo PRIO]
 * The sampler stops when its stdin reaches end of file (the launcher's pipe
 * closes, also when the launcher dies) or on SIGTERM/SIGINT.
 *
 * File layout (little-endian u64 words; launcher/sampler/c_sampler.ts):
 *   0 magic "bsmemsmp"  1 layout  2 interval_ns  3 ring capacity
 *   4 head (samples written, release-ordered)  5 cpu_ns of the sampler so far
 *   6 flags (1 cgroup, 2 meminfo)  7 realtime granted (1/0)
 *   8..15 reserved
 *   16.. ring of {t_ns, cgroup_bytes, meminfo_used_kib} (UINT64_MAX = not read)
 *
 * Build: gcc -O2 -Wall -o mem_sampler mem_sampler.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x706d736d656d7362ULL /* "bsmemsmp" */
#define LAYOUT 1
#define HEADER_WORDS 16
#define FIELDS 3
#define NONE UINT64_MAX

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static uint64_t read_u64_file(int fd)
{
    char buf[64];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) {
        return NONE;
    }
    buf[n] = 0;
    return strtoull(buf, NULL, 10);
}

static uint64_t read_meminfo_used(int fd)
{
    static char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) {
        return NONE;
    }
    buf[n] = 0;
    char *t = strstr(buf, "MemTotal:"), *a = strstr(buf, "MemAvailable:");
    if (!t || !a) {
        return NONE;
    }
    return strtoull(t + 9, NULL, 10) - strtoull(a + 13, NULL, 10);
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *cgroup = NULL;
    long interval_us = 500, meminfo_every = 0, fifo = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--interval-us")) interval_us = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--cgroup")) cgroup = argv[i + 1];
        else if (!strcmp(argv[i], "--meminfo")) meminfo_every = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--fifo")) fifo = atol(argv[i + 1]);
        else {
            fprintf(stderr, "mem_sampler: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!out || interval_us <= 0 || (!cgroup && meminfo_every <= 0)) {
        fprintf(stderr, "usage: mem_sampler --out FILE --interval-us US [--cgroup FILE] [--meminfo K] [--fifo PRIO]\n");
        return 2;
    }
    /* Belt and braces: die with the launcher even if stdin stays open. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    int cg = -1, mi = -1;
    if (cgroup && (cg = open(cgroup, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "mem_sampler: cannot open %s: %s\n", cgroup, strerror(errno));
        return 1;
    }
    if (meminfo_every > 0 && (mi = open("/proc/meminfo", O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "mem_sampler: cannot open /proc/meminfo: %s\n", strerror(errno));
        return 1;
    }
    int fd = open(out, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "mem_sampler: cannot open %s: %s\n", out, strerror(errno));
        return 1;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    uint64_t cap = ((uint64_t)size / 8 - HEADER_WORDS) / FIELDS;
    volatile uint64_t *h = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED || cap < 16) {
        fprintf(stderr, "mem_sampler: cannot map %s (%ld bytes)\n", out, (long)size);
        return 1;
    }
    volatile uint64_t *ring = h + HEADER_WORDS;
    int rt = 0;
    if (fifo > 0) {
        struct sched_param sp = { .sched_priority = sched_get_priority_min(SCHED_FIFO) + (int)fifo };
        rt = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
    }
    h[1] = LAYOUT;
    h[2] = (uint64_t)interval_us * 1000;
    h[3] = cap;
    h[6] = (cg >= 0 ? 1 : 0) | (mi >= 0 ? 2 : 0);
    h[7] = (uint64_t)rt;
    __atomic_store_n(&h[0], MAGIC, __ATOMIC_RELEASE);

    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    uint64_t n = 0;
    struct pollfd in = { .fd = 0, .events = POLLIN };
    while (!stop) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t t = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
        volatile uint64_t *e = ring + (n % cap) * FIELDS;
        e[0] = t;
        e[1] = cg >= 0 ? read_u64_file(cg) : NONE;
        e[2] = (mi >= 0 && n % (uint64_t)meminfo_every == 0) ? read_meminfo_used(mi) : NONE;
        n++;
        __atomic_store_n(&h[4], n, __ATOMIC_RELEASE);
        if (n % 100 == 0) {
            h[5] = cpu_ns();
            /* The launcher holds our stdin: end of file means it is gone. */
            if (poll(&in, 1, 0) > 0) {
                char c;
                if (read(0, &c, 1) <= 0) break;
            }
        }
        next.tv_nsec += interval_us * 1000;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        /* Late by more than a tick (a stall): keep the schedule, skip ahead. */
        if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec)) {
            next = now;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR && !stop) {
        }
    }
    h[5] = cpu_ns();
    return 0;
}
