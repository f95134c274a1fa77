/*
 * bootstorm memory sampler: a small process that samples memory on a fixed
 * absolute schedule (clock_nanosleep TIMER_ABSTIME on CLOCK_MONOTONIC, the
 * launcher's clock) and appends the samples to a ring in a shared file that
 * the launcher maps and drains every 50 ms. No text goes through a pipe and
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
 * Two modes:
 *   rate (default)  a sample every interval, also when nothing moves: 2,000
 *                   wake-ups a second at 500 us cost 5-7% of a core on a VM
 *                   (the hypervisor's timer exits), whatever is read.
 *   --quiet STEP    quiet waits (cgroup v1 only): sample at the rate while
 *                   the cgroup's usage moves; once it has stayed within STEP
 *                   bytes of one value for --quiet-ms (default 20 ms), a
 *                   helper thread registers memory thresholds at that value
 *                   +- STEP on an eventfd (cgroup.event_control; each
 *                   registration waits for an RCU grace period, ~15 ms here,
 *                   so it is off the sampling thread) and the sampler sleeps
 *                   on the eventfd instead of the clock. The kernel wakes it
 *                   when the usage crosses a threshold (it compares every 128
 *                   page events per CPU) and it samples at the rate again.
 *                   While it waits, a heartbeat sample every --heartbeat-ms
 *                   (default 100) keeps /proc/meminfo and the curve alive.
 *                   Between two samples of a wait the run's usage stayed
 *                   within STEP (+ 128 pages per CPU) of the first.
 *
 * Usage: mem_sampler --out FILE --interval-us US [--cgroup FILE]
 *        [--meminfo K] [--fifo PRIO] [--quiet STEP_BYTES] [--quiet-ms MS]
 *        [--heartbeat-ms MS]
 * The sampler stops when its stdin reaches end of file (the launcher's pipe
 * closes, also when the launcher dies) or on SIGTERM/SIGINT. A byte 'r' on
 * stdin holds it on the rate (it leaves a wait at once and takes none until
 * a 'q'): the launcher holds it while instances boot. A quiet wait lets the
 * vCPUs of this VM go idle, and a boot that starts then was slower: N = 1,
 * 20 alternating runs, 36.9-38.6 ms against 28.1 ms with the rate.
 *
 * File layout (little-endian u64 words; launcher/sampler/c_sampler.ts):
 *   0 magic "bsmemsmp"  1 layout  2 interval_ns  3 ring capacity
 *   4 head (samples written, release-ordered)  5 cpu_ns of the sampler so far
 *   6 flags (1 cgroup, 2 meminfo)  7 realtime granted (1/0)
 *   8 quiet step bytes (0: rate mode)  9 waits entered  10 wake-ups by a
 *   threshold  11 heartbeat samples  12 ns spent waiting  13 words per sample
 *   14..15 reserved
 *   16.. ring of {t_ns, cgroup_bytes, meminfo_used_kib, kind}
 *        (UINT64_MAX = not read; kind 0 = on the rate, 1 = heartbeat in a
 *        wait, 2 = the first sample after a threshold woke the sampler)
 *
 * Build: gcc -O2 -Wall -pthread -o mem_sampler mem_sampler.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x706d736d656d7362ULL /* "bsmemsmp" */
#define LAYOUT 2
#define HEADER_WORDS 16
#define FIELDS 4
#define NONE UINT64_MAX

enum kind { ON_RATE = 0, HEARTBEAT = 1, WOKEN = 2 };

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

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t absdiff(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

/* Quiet waits: the helper thread that registers thresholds. */
static struct {
    int ec, cg;
    uint64_t step;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t want;       /* usage to arm around; NONE: nothing asked */
    uint64_t armed_at;   /* usage the ready eventfd is armed around */
    int ready;           /* eventfd armed and not yet taken, or -1 (also after a failed registration) */
} q = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .want = NONE, .ready = -1 };

static int register_threshold(int efd, uint64_t at)
{
    char line[96];
    int n = snprintf(line, sizeof line, "%d %d %llu", efd, q.cg, (unsigned long long)at);
    return write(q.ec, line, (size_t)n) == n ? 0 : -1;
}

static void *arming(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&q.mu);
    for (;;) {
        while (q.want == NONE) pthread_cond_wait(&q.cv, &q.mu);
        uint64_t u = q.want;
        q.want = NONE;
        pthread_mutex_unlock(&q.mu);
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd >= 0 && (register_threshold(efd, u + q.step) < 0 ||
                         (u > q.step && register_threshold(efd, u - q.step) < 0))) {
            /* the sampler stays on the rate and asks again */
            close(efd);
            efd = -1;
        }
        pthread_mutex_lock(&q.mu);
        if (q.ready >= 0) close(q.ready); /* closing unregisters its thresholds */
        q.ready = efd;
        q.armed_at = u;
    }
    return NULL;
}

static void ask_arming(uint64_t u)
{
    pthread_mutex_lock(&q.mu);
    q.want = u;
    pthread_cond_signal(&q.cv);
    pthread_mutex_unlock(&q.mu);
}

/* An armed eventfd whose value is still within a step of the usage now, or -1. */
static int take_armed(uint64_t now_usage, uint64_t *armed_at)
{
    int efd = -1;
    pthread_mutex_lock(&q.mu);
    if (q.ready >= 0 && absdiff(now_usage, q.armed_at) < q.step) {
        efd = q.ready;
        *armed_at = q.armed_at;
        q.ready = -1;
    }
    pthread_mutex_unlock(&q.mu);
    return efd;
}

/* The ring the launcher drains (set up in main). */
static volatile uint64_t *hdr, *ring;
static uint64_t cap, nsamples;

/* Append one sample and publish it (release-ordered head). */
static void put(uint64_t t, uint64_t cgroup_bytes, uint64_t meminfo_kib, enum kind kind)
{
    volatile uint64_t *e = ring + (nsamples % cap) * FIELDS;
    e[0] = t;
    e[1] = cgroup_bytes;
    e[2] = meminfo_kib;
    e[3] = (uint64_t)kind;
    nsamples++;
    __atomic_store_n(&hdr[4], nsamples, __ATOMIC_RELEASE);
}

/* Held on the rate by the launcher ('r' on stdin; 'q' releases). */
static int hold_rate;

/* Read control bytes from stdin; 0 at end of file (the launcher is gone). */
static int read_control(void) {
    char b[64];
    ssize_t r = read(0, b, sizeof b);
    if (r <= 0) return r < 0 && (errno == EINTR || errno == EAGAIN);
    for (ssize_t k = 0; k < r; k++) {
        if (b[k] == 'r') hold_rate = 1;
        else if (b[k] == 'q') hold_rate = 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *cgroup = NULL;
    long interval_us = 500, meminfo_every = 0, fifo = 0, quiet_ms = 20, heartbeat_ms = 100;
    uint64_t step = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--interval-us")) interval_us = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--cgroup")) cgroup = argv[i + 1];
        else if (!strcmp(argv[i], "--meminfo")) meminfo_every = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--fifo")) fifo = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--quiet")) step = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--quiet-ms")) quiet_ms = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--heartbeat-ms")) heartbeat_ms = atol(argv[i + 1]);
        else {
            fprintf(stderr, "mem_sampler: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!out || interval_us <= 0 || (!cgroup && meminfo_every <= 0) || quiet_ms <= 0 || heartbeat_ms <= 0) {
        fprintf(stderr, "usage: mem_sampler --out FILE --interval-us US [--cgroup FILE] [--meminfo K] [--fifo PRIO] [--quiet STEP_BYTES] [--quiet-ms MS] [--heartbeat-ms MS]\n");
        return 2;
    }
    if (step > 0 && !cgroup) {
        fprintf(stderr, "mem_sampler: --quiet needs --cgroup (a cgroup v1 memory.usage_in_bytes)\n");
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
    if (step > 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s", cgroup);
        char *slash = strrchr(path, '/');
        if (!slash) {
            fprintf(stderr, "mem_sampler: --quiet: %s is not a file in a cgroup folder\n", cgroup);
            return 1;
        }
        snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "cgroup.event_control");
        if ((q.ec = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
            fprintf(stderr, "mem_sampler: --quiet needs cgroup v1 memory thresholds: cannot open %s: %s\n", path, strerror(errno));
            return 1;
        }
        q.cg = cg;
        q.step = step;
        /* One registration up front: refuse here, not in the middle of a run. */
        int efd = eventfd(0, EFD_CLOEXEC);
        if (efd < 0 || register_threshold(efd, read_u64_file(cg) + step) < 0) {
            fprintf(stderr, "mem_sampler: --quiet: cannot register a memory threshold in %s: %s\n", path, strerror(errno));
            return 1;
        }
        close(efd);
        pthread_t th;
        if (pthread_create(&th, NULL, arming, NULL) != 0) {
            fprintf(stderr, "mem_sampler: --quiet: cannot start the arming thread\n");
            return 1;
        }
        pthread_detach(th);
    }
    int fd = open(out, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "mem_sampler: cannot open %s: %s\n", out, strerror(errno));
        return 1;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    cap = ((uint64_t)size / 8 - HEADER_WORDS) / FIELDS;
    volatile uint64_t *h = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED || cap < 16) {
        fprintf(stderr, "mem_sampler: cannot map %s (%ld bytes)\n", out, (long)size);
        return 1;
    }
    hdr = h;
    ring = h + HEADER_WORDS;
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
    h[8] = step;
    h[13] = FIELDS;
    __atomic_store_n(&h[0], MAGIC, __ATOMIC_RELEASE);

    const uint64_t interval_ns = (uint64_t)interval_us * 1000;
    const uint64_t quiet_ns = (uint64_t)quiet_ms * 1000000;
    const uint64_t meminfo_ns = (uint64_t)meminfo_every * interval_ns;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    uint64_t last_mi = 0, waits = 0, woken = 0, beats = 0, waited_ns = 0;
    /* Quiet detection: the usage has stayed within a step of `calm_at` since `calm_since`. */
    uint64_t calm_at = NONE, calm_since = 0;
    int asked = 0;
    enum kind kind = ON_RATE;
    struct pollfd in = { .fd = 0, .events = POLLIN };
    while (!stop) {
        uint64_t t = mono_ns();
        uint64_t u = cg >= 0 ? read_u64_file(cg) : NONE;
        /* rate mode: every K ticks; quiet mode: at most every K intervals */
        int read_mi = mi >= 0 && (step > 0 ? (nsamples == 0 || t - last_mi >= meminfo_ns) : nsamples % (uint64_t)meminfo_every == 0);
        if (read_mi) last_mi = t;
        put(t, u, read_mi ? read_meminfo_used(mi) : NONE, kind);
        if (nsamples % 100 == 0 || kind != ON_RATE) {
            h[5] = cpu_ns();
            /* The launcher holds our stdin: end of file means it is gone. */
            if (poll(&in, 1, 0) > 0 && !read_control()) break;
        }
        kind = ON_RATE;
        if (hold_rate) {
            calm_at = NONE;
            asked = 0;
        } else if (step > 0 && u != NONE) {
            if (calm_at == NONE || absdiff(u, calm_at) >= step) {
                calm_at = u;
                calm_since = t;
                asked = 0;
            } else if (t - calm_since >= quiet_ns) {
                uint64_t armed_at = 0;
                int efd = take_armed(u, &armed_at);
                if (efd < 0 && !asked) {
                    ask_arming(u);
                    asked = 1;
                }
                if (efd >= 0) {
                    /* Wait on the kernel, with a heartbeat and an ear on stdin. */
                    waits++;
                    h[9] = waits;
                    uint64_t w0 = t;
                    int gone = 0, fired = 0;
                    while (!stop) {
                        struct pollfd fds[2] = { { .fd = efd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
                        int pr = poll(fds, 2, (int)heartbeat_ms);
                        if (pr < 0 && errno != EINTR) {
                            gone = 1;
                            break;
                        }
                        if (pr > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                            if (!read_control()) {
                                gone = 1;
                                break;
                            }
                            if (hold_rate) break;
                        }
                        if (pr > 0 && (fds[0].revents & POLLIN)) {
                            fired = 1;
                            break;
                        }
                        if (pr == 0) {
                            /* heartbeat sample; a move the threshold missed ends the wait too */
                            uint64_t tb = mono_ns(), ub = read_u64_file(cg);
                            last_mi = tb;
                            put(tb, ub, mi >= 0 ? read_meminfo_used(mi) : NONE, HEARTBEAT);
                            beats++;
                            h[11] = beats;
                            h[5] = cpu_ns();
                            if (ub == NONE || absdiff(ub, armed_at) >= step) break;
                        }
                    }
                    close(efd); /* unregisters its thresholds */
                    waited_ns += mono_ns() - w0;
                    h[12] = waited_ns;
                    if (gone) break;
                    if (fired) {
                        woken++;
                        h[10] = woken;
                        kind = WOKEN;
                    }
                    calm_at = NONE;
                    asked = 0;
                    /* back on the rate from now */
                    clock_gettime(CLOCK_MONOTONIC, &next);
                    continue;
                }
            }
        }
        next.tv_nsec += interval_us * 1000;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
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
