/*
 * fork_at_ts: the launcher's spawn helper for the paper's method. Algorithm
 * 1 as the paper and bench/c/harness.c have it: at each instance's deadline
 * take T_s, then start a thread that fork()s and exec()s the instance. Deno's
 * own spawn call costs milliseconds, and pre-forking every instance and
 * releasing them together made even the plain C harness ~1.5x slower on this
 * host (bench/README.md, "Spawn modes").
 *
 * Usage: fork_at_ts SOCKET_PATH
 *
 * stdin, tokens separated by NUL bytes:
 *   optionally first "W" needle flags pss_step: the ready line is watched
 *     here (see watch_byte()): needle, a literal the current output line
 *     (its bytes since the last \n, without \r) must contain; at the read
 *     that completes it the instance's thread reads VmHWM, its CPU (its
 *     CPU-time clock) and, for every pss_step-th index (0: none), Pss and
 *     private memory from smaps_rollup, then with flags & 1 SIGKILLs its
 *     process group, and reports "E" (below)
 *   "N" n, then n times: index deadline_ns argc envc argv... env...
 *     (deadline: ns after T_0; env: KEY=VALUE set on top of ours)
 *   then, once T_0 is taken: "G" t0_ns (CLOCK_MONOTONIC), or "Q" (quit)
 *   after "G": "Q" stops forking; EOF (the launcher is gone) kills every
 *   instance forked and exits.
 * Before "G" it connects two stream sockets per instance to SOCKET_PATH
 * (header: int32 index, int32 stream: 1 stdout, 2 stderr): the launcher's
 * ends of the instance's stdout and stderr. The instance itself writes to a
 * pipe of its own, created in its thread at its fork as the C harness does,
 * and that thread relays what it reads to the socket (see relay()), each
 * read as one frame: int64 t_ns (CLOCK_MONOTONIC, taken when the read
 * returned, as the C harness takes T_e), int32 length, int32 0, the bytes.
 * stdin is /dev/null.
 *
 * Events, one line each (each one write(2), so lines never mix), on a
 * socket connected to SOCKET_PATH first of all (header: int32 -1, int32 0)
 * and made our stdout:
 *   "R <warning or ok>"   plan read; whether it may use SCHED_FIFO
 *   "C"                   every socket connected
 *   "S i pid t_s_ns"      forked
 *   "F i message"         the fork (or its thread) failed
 *   "E i t_e_ns hwm_kib cpu_ns pss_kib uss_kib"
 *                         the watched ready line (with "W"): T_e (the
 *                         read's time) and what was read there (-1: not
 *                         read); before the kill, if any
 *   "X i code signame"    exited (code -1 on a signal, signame "-" else),
 *                         after what its pipes held is relayed
 *   "D"                   done forking (all, or stopped by "Q")
 *   "U cpu_ns"            its own CPU (getrusage RUSAGE_SELF: every thread,
 *                         not the instances), last, when every instance is
 *                         reaped
 * The exec of argv[0] failing: the child writes
 * "fork_at_ts: exec ARGV0: REASON" to its stderr and exits 127.
 *
 * Every instance dies with it: PR_SET_PDEATHSIG(SIGKILL) in each child (its
 * thread lives until the child is reaped), and SIGKILL to all on EOF of
 * stdin. It dies with the launcher the same way. The main thread waits for
 * a deadline ahead at SCHED_FIFO and takes the T_s of instances already due
 * at normal priority (see the main loop); instance threads and children run
 * at normal priority, children with the helper's own timer slack and an
 * unblocked signal mask, each child the leader of a process group of its
 * own (in our session).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Spin for the last part of each wait, ns. */
#define SPIN_NS 300000LL
/* Bytes an instance thread reads from a pipe at once (a pipe holds 64 KiB). */
#define RELAY_CAP 65536
/* A frame's header on the launcher's socket: t_ns, length, 0. */
#define FRAME_HEAD 16

struct inst {
    int index;
    int64_t deadline_ns;
    char **argv;
    char **env;
    int envc;
    int out, err;
    pid_t pid; /* while alive (atomic: its thread writes, main reads) */
    int64_t ts;
    int vfork; /* its deadline was waited for (see instance_thread) */
    size_t watch_m; /* bytes of the needle matched so far (watch_byte) */
    int watch_done; /* the ready line was seen (or the watch is off) */
};

static struct inst *insts;
static int n;
static pid_t self;

/* The ready line watched here ("W"): empty = not watched. */
static char *needle;
static size_t needle_len;
static int ready_flags; /* 1: SIGKILL the instance's tree at ready */
static long long pss_step;
#define READY_KILL 1

/* --- stdin tokens ------------------------------------------------------ */

static char inbuf[1 << 16];
static size_t inlen, inpos;
static int in_eof;

static int fill(void) {
    if (in_eof) return 0;
    ssize_t r;
    do r = read(0, inbuf, sizeof inbuf); while (r < 0 && errno == EINTR);
    if (r <= 0) {
        in_eof = 1;
        return 0;
    }
    inlen = (size_t)r;
    inpos = 0;
    return 1;
}

/* Next NUL-terminated token (malloc'd), or NULL at EOF. */
static char *token(void) {
    size_t cap = 64, len = 0;
    char *t = malloc(cap);
    for (;;) {
        if (inpos == inlen && !fill()) {
            free(t);
            return NULL;
        }
        char c = inbuf[inpos++];
        if (len + 1 >= cap) t = realloc(t, cap *= 2);
        if (c == '\0') {
            t[len] = '\0';
            return t;
        }
        t[len++] = c;
    }
}

static long long number(const char *what) {
    char *t = token();
    if (!t) {
        fprintf(stderr, "fork_at_ts: the plan ended before %s\n", what);
        exit(2);
    }
    char *end;
    long long v = strtoll(t, &end, 10);
    if (*end) {
        fprintf(stderr, "fork_at_ts: %s is not a number: \"%s\"\n", what, t);
        exit(2);
    }
    free(t);
    return v;
}

static char *string(const char *what) {
    char *t = token();
    if (!t) {
        fprintf(stderr, "fork_at_ts: the plan ended before %s\n", what);
        exit(2);
    }
    return t;
}

/* --- output ------------------------------------------------------------ */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (len < 0) return;
    if ((size_t)len >= sizeof line) len = sizeof line - 1;
    for (int off = 0; off < len;) {
        ssize_t w = write(1, line + off, (size_t)(len - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return; /* the launcher is gone: stdin's EOF ends us */
        off += (int)w;
    }
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* --- children ---------------------------------------------------------- */

/* Timer slack before SCHED_FIFO set ours to 0; children get it back. */
static unsigned long slack_ns;
/* Whether we run at SCHED_FIFO now (see wait_rt). */
static int rt;

static int devnull;
static sigset_t oldmask;
/* The open-files soft limit we were started with: raised for the relay's
 * pipes, given back to each instance before its exec. */
static struct rlimit nofile;
/* Set once every instance is reaped and the launcher is gone: threads still
 * relaying a pipe that a descendant of their instance holds stop. */
static int closing;
/* Instance threads still running (each until its instance is reaped). */
static int running;
static pthread_attr_t attr;
/*
 * The instance threads' stacks: one slot each in one mapping, not a mapping
 * (and a guard page) per thread. Every fork copies the helper's mappings
 * (dup_mmap), so with a mapping per live thread the forks of a storm cost
 * O(N^2): half of the helper's CPU in a 256-storm (perf). The threads use
 * little stack (no recursion, no large locals; the relay buffer is malloc'd),
 * so the slots have no guard pages.
 */
#define STACK_SLOT (64 * 1024)
static char *stacks;
/* Instances whose S or F line is written: "D" comes after all of them. */
static int reported;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t report_cond = PTHREAD_COND_INITIALIZER;

static void count_report(void) {
    pthread_mutex_lock(&report_lock);
    reported++;
    pthread_cond_signal(&report_cond);
    pthread_mutex_unlock(&report_lock);
}

/* SIGKILL an instance and its process group (each instance leads one: see
 * the fork), so a wrapper's children go with it without a walk of /proc; a
 * descendant that left the group (setsid) is the batch tag's to kill when
 * the batch ends (killTagged() in reaper.ts). */
static void kill_group(pid_t pid) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
}

static void kill_all(void) {
    for (int k = 0; k < n; k++) {
        pid_t pid = __atomic_load_n(&insts[k].pid, __ATOMIC_ACQUIRE);
        if (pid > 0) kill_group(pid);
    }
}

static int set_rt(int on) {
    struct sched_param sp = { .sched_priority = on ? 20 : 0 };
    if (sched_setscheduler(0, on ? (SCHED_FIFO | SCHED_RESET_ON_FORK) : SCHED_OTHER, &sp))
        return 0;
    rt = on;
    return 1;
}

/* What an instance writes, on its way to the launcher: pipe -> socket. */
struct stream {
    int pipe; /* read end; -1 at EOF */
    int sock; /* the launcher's socket; -1 once it is closed or gone */
};

static void close_stream(struct stream *st) {
    if (st->pipe >= 0) close(st->pipe);
    if (st->sock >= 0) close(st->sock);
    st->pipe = st->sock = -1;
}

/* --- the ready line, watched here ("W") -------------------------------- */

/* KMP failure function of the needle: fail[k] = length of the longest proper
 * prefix of needle[0..k] that is also its suffix. */
static size_t *fail;

static void watch_init(void) {
    fail = calloc(needle_len ? needle_len : 1, sizeof *fail);
    for (size_t k = 1, m = 0; k < needle_len; k++) {
        while (m > 0 && needle[k] != needle[m]) m = fail[m - 1];
        if (needle[k] == needle[m]) m++;
        fail[k] = m;
    }
}

/* A whole small /proc file into buf (NUL-terminated); its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t got = 0, r;
    while (got < (ssize_t)cap - 1 && (r = read(fd, buf + got, cap - 1 - (size_t)got)) > 0) got += r;
    close(fd);
    buf[got] = '\0';
    return got;
}

/* The number after a line "KEY" (with its colon) of /proc text, or -1. */
static long long field_at_line(const char *text, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = text; (p = strstr(p, key)); p += kl)
        if (p == text || p[-1] == '\n') return strtoll(p + kl, NULL, 10);
    return -1;
}

/*
 * CPU of a process so far, ns (every thread, those gone too): its CPU-time
 * clock, one syscall; -1 when it is gone. Not /proc: every /proc/<pid> entry
 * read (each thread's schedstat, children) leaves dentries the kernel walks
 * to drop when the process is reaped (release_task ->
 * proc_invalidate_siblings_dcache), in the thread that reaps it. With the
 * schedstat and children walks at ready that walk was a third of this
 * helper's CPU in a 64-storm (perf); without them the helper's CPU per
 * storm fell from 42-69 ms to 35-40 (four alternating storms each).
 */
static long long cpu_ns_of(pid_t pid) {
    clockid_t cid;
    struct timespec ts;
    if (clock_getcpuclockid(pid, &cid) != 0 || clock_gettime(cid, &ts) != 0) return -1;
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The ready line was completed by a read at t: what the launcher reads at
 * T_e (onReady() in launch.ts), read here, the kill, then "E". */
static void at_ready(struct inst *s, pid_t pid, int64_t t) {
    char path[64], text[4096];
    long long hwm = -1, pss = -1, uss = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (read_small(path, text, sizeof text) > 0) hwm = field_at_line(text, "VmHWM:");
    long long cpu = cpu_ns_of(pid);
    if (pss_step > 0 && s->index % pss_step == 0) {
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
        if (read_small(path, text, sizeof text) > 0) {
            long long c = field_at_line(text, "Private_Clean:");
            long long d = field_at_line(text, "Private_Dirty:");
            pss = field_at_line(text, "Pss:");
            uss = c >= 0 && d >= 0 ? c + d : -1;
            if (uss < 0) pss = -1;
        }
    }
    if (ready_flags & READY_KILL) kill_group(pid);
    say("E %d %lld %lld %lld %lld %lld\n", s->index, (long long)t, hwm, cpu, pss, uss);
}

/*
 * Watch one read of stdout for the needle, as LineWatch does in the
 * launcher for a literal ready regex: the current line is the bytes since
 * the last \n with every \r dropped, and the needle must be inside it.
 */
static void watch(struct inst *s, pid_t pid, const char *bytes, size_t len, int64_t t) {
    size_t m = s->watch_m;
    for (size_t k = 0; k < len; k++) {
        char c = bytes[k];
        if (c == '\n') {
            m = 0;
            continue;
        }
        if (c == '\r') continue;
        while (m > 0 && needle[m] != c) m = fail[m - 1];
        if (needle[m] == c) m++;
        if (m == needle_len) {
            s->watch_done = 1;
            at_ready(s, pid, t);
            return;
        }
    }
    s->watch_m = m;
}

/*
 * Read what the pipe holds and write it to the socket, whole. The guest pays
 * a pipe's write, as in the C harness and prestart mode: QEMU writes serial
 * output a byte per writev(2), and a byte to a Unix socket cost 1.2-1.4 us
 * against 0.4-0.7 to a pipe here; 8 guests writing 20,000 bytes each booted
 * in 213-276 ms with their stdout on the socket, 98-121 ms on a pipe
 * (README, "How it measures"). Each read goes on as one frame with the time
 * it returned: the launcher takes T_e from it, not from when its own busy
 * event loop gets to the bytes. Output the launcher no longer reads is read
 * and dropped, so the guest never blocks on it. `buf` holds FRAME_HEAD +
 * RELAY_CAP bytes. With `w` (its stdout, "W" given), each read is watched
 * for the ready line first: the kill at ready comes before the launcher
 * gets the bytes, as in the C harness. Returns 0 at EOF.
 */
static int relay(struct stream *st, char *buf, struct inst *w, pid_t pid) {
    for (;;) {
        ssize_t r = read(st->pipe, buf + FRAME_HEAD, RELAY_CAP);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return 1;
        if (r <= 0) {
            close_stream(st);
            return 0;
        }
        int64_t t = now_ns();
        if (w && !w->watch_done) watch(w, pid, buf + FRAME_HEAD, (size_t)r, t);
        int64_t head[2] = { t, (int64_t)r }; /* little-endian: len, 0 */
        memcpy(buf, head, FRAME_HEAD);
        ssize_t total = r + FRAME_HEAD;
        for (ssize_t off = 0; off < total && st->sock >= 0;) {
            ssize_t w = write(st->sock, buf + off, (size_t)(total - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                close(st->sock);
                st->sock = -1;
                break;
            }
            off += w;
        }
        if (r < RELAY_CAP) return 1;
    }
}

static int pidfd_open_(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/*
 * One instance, the paper's way: its own thread forks and execs it, relays
 * its output, and stays until it is reaped (PR_SET_PDEATHSIG follows the
 * thread that forked: the child dies with this thread, and so with the
 * helper).
 */
static void *instance_thread(void *arg) {
    struct inst *s = arg;
    /* The environment, ours with the plan's entries on top, built before
     * the fork (after a vfork the child shares our memory: no malloc). */
    size_t base = 0;
    while (environ[base]) base++;
    char **envp = calloc(base + (size_t)s->envc + 1, sizeof(char *));
    size_t m = 0;
    for (size_t e = 0; e < base; e++) {
        const char *eq = strchr(environ[e], '=');
        size_t klen = eq ? (size_t)(eq - environ[e]) + 1 : strlen(environ[e]);
        int overridden = 0;
        for (int x = 0; x < s->envc && !overridden; x++)
            overridden = strncmp(s->env[x], environ[e], klen) == 0;
        if (!overridden) envp[m++] = environ[e];
    }
    for (int x = 0; x < s->envc; x++) envp[m++] = s->env[x];
    envp[m] = NULL;
    /* The instance's pipes, and the relay's buffer. */
    int out[2] = { -1, -1 }, err[2] = { -1, -1 };
    char *buf = malloc(FRAME_HEAD + RELAY_CAP);
    if (!buf || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
        int e = buf ? errno : ENOMEM;
        if (out[0] >= 0) close(out[0]), close(out[1]);
        free(buf);
        free(envp);
        close(s->out);
        close(s->err);
        say("F %d its output pipes: %s (raise the open-files limit: ulimit -n)\n",
            s->index, strerror(e));
        count_report();
        __atomic_sub_fetch(&running, 1, __ATOMIC_ACQ_REL);
        return NULL;
    }
    /*
     * fork, as the paper's harness; vfork for an instance whose deadline the
     * main thread waited for (interval patterns). A fork copies our page
     * tables under our mmap lock, and one preempted half way (instance
     * threads run at normal priority on a busy host) held up the real-time
     * main thread's next T_s: 25 ms late at 5 ms intervals. vfork shares our
     * memory until the exec; but N = 64 back-to-back storms were slower with
     * it: median 1,774 / 2,238 ms against 1,072 / 1,815 ms with fork (two
     * runs of 6 rounds, the C harness 932 / 1,686 ms).
     */
    pid_t pid = s->vfork ? vfork() : fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != self) _exit(137);
        /* A process group of its own (not a session: a session is a
         * scheduler group of its own under autogroup, see reaper.ts), so
         * the kill at ready takes its children in one call. */
        setpgid(0, 0);
        /* The policy is reset on fork, the timer slack is not: a
         * real-time thread's is 0, and QEMU would keep it. */
        prctl(PR_SET_TIMERSLACK, slack_ns);
        setrlimit(RLIMIT_NOFILE, &nofile);
        dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execvpe(s->argv[0], s->argv, envp);
        int e = errno;
        static const char what[] = "fork_at_ts: exec ";
        ssize_t w = write(2, what, sizeof what - 1);
        w = write(2, s->argv[0], strlen(s->argv[0]));
        w = write(2, ": ", 2);
        /* strerror is not safe here: the reasons execFailed() knows */
        const char *why = e == ENOENT ? "No such file or directory"
            : e == EACCES ? "Permission denied"
            : e == ENOEXEC ? "Exec format error (cannot execute)"
            : "cannot execute";
        w = write(2, why, strlen(why));
        w = write(2, "\n", 1);
        (void)w;
        _exit(127);
    }
    free(envp);
    struct stream streams[2] = { { out[0], s->out }, { err[0], s->err } };
    close(out[1]);
    close(err[1]);
    for (int k = 0; k < 2; k++)
        fcntl(streams[k].pipe, F_SETFL, fcntl(streams[k].pipe, F_GETFL) | O_NONBLOCK);
    if (pid < 0) {
        say("F %d %s: %s\n", s->index, s->vfork ? "vfork" : "fork", strerror(errno));
        count_report();
    } else {
        __atomic_store_n(&s->pid, pid, __ATOMIC_RELEASE);
        say("S %d %d %lld\n", s->index, (int)pid, (long long)s->ts);
        count_report();
        /* Relay until the instance exits (its pidfd; without one, a look
         * every 10 ms), then what its pipes still hold; a descendant that
         * keeps a pipe open is relayed until the launcher is gone. */
        int pidfd = pidfd_open_(pid);
        int reaped = 0;
        for (;;) {
            int open = streams[0].pipe >= 0 || streams[1].pipe >= 0;
            if (reaped && (!open || __atomic_load_n(&closing, __ATOMIC_ACQUIRE))) break;
            struct pollfd p[3];
            int np = 0, which[3];
            for (int k = 0; k < 2; k++) {
                if (streams[k].pipe < 0) continue;
                p[np] = (struct pollfd){ streams[k].pipe, POLLIN, 0 };
                which[np++] = k;
            }
            if (!reaped && pidfd >= 0) {
                p[np] = (struct pollfd){ pidfd, POLLIN, 0 };
                which[np++] = 2;
            }
            int exited = 0, st = 0;
            if (np == 0) {
                exited = 1; /* nothing to relay, no pidfd: wait for it */
            } else {
                int r = poll(p, (nfds_t)np, reaped ? 20 : pidfd >= 0 ? -1 : 10);
                if (r < 0 && errno != EINTR) exited = !reaped;
                for (int j = 0; r > 0 && j < np; j++) {
                    if (!p[j].revents) continue;
                    if (which[j] < 2) relay(&streams[which[j]], buf, which[j] == 0 ? s : NULL, pid);
                    else exited = 1;
                }
                if (!reaped && !exited && pidfd < 0 && waitpid(pid, &st, WNOHANG) == pid)
                    exited = 2; /* reaped already */
                if (r < 0 && reaped) break;
            }
            if (!exited || reaped) continue;
            /* what it wrote last may still sit in its pipes */
            for (int k = 0; k < 2; k++)
                if (streams[k].pipe >= 0) relay(&streams[k], buf, k == 0 ? s : NULL, pid);
            if (exited == 1) {
                while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
                }
            }
            reaped = 1;
            __atomic_store_n(&s->pid, 0, __ATOMIC_RELEASE);
            if (WIFSIGNALED(st)) {
                const char *name = sigabbrev_np(WTERMSIG(st));
                say("X %d -1 SIG%s\n", s->index, name ? name : "KILL");
            } else {
                say("X %d %d -\n", s->index, WEXITSTATUS(st));
            }
        }
        if (pidfd >= 0) close(pidfd);
    }
    close_stream(&streams[0]);
    close_stream(&streams[1]);
    free(buf);
    __atomic_sub_fetch(&running, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

/* Algorithm 1: T_s, then a thread that forks and execs the instance. */
static void start(struct inst *s) {
    s->ts = now_ns();
    __atomic_add_fetch(&running, 1, __ATOMIC_ACQ_REL);
    pthread_t th;
    if (stacks) pthread_attr_setstack(&attr, stacks + (size_t)(s - insts) * STACK_SLOT, STACK_SLOT);
    int e = pthread_create(&th, &attr, instance_thread, s);
    if (e) {
        __atomic_sub_fetch(&running, 1, __ATOMIC_ACQ_REL);
        close(s->out);
        close(s->err);
        say("F %d thread: %s\n", s->index, strerror(e));
        count_report();
    }
}

static int connect_to(const char *path, int index, int stream) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    int32_t h[2] = { index, stream };
    if (write(fd, h, sizeof h) != sizeof h) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A "Q" or EOF on stdin (non-blocking check after "G"). */
static int stop_asked(void) {
    if (in_eof) return 1;
    char b[64];
    ssize_t r = read(0, b, sizeof b);
    if (r == 0) {
        in_eof = 1;
        return 1;
    }
    return r > 0 && memchr(b, 'Q', (size_t)r) != NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fork_at_ts SOCKET_PATH (plan on stdin)\n");
        return 2;
    }
    self = getpid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Each live instance holds two pipes and a pidfd here on top of its two
     * sockets: raise the soft limit as far as it goes (the instances get
     * the one we had back). */
    getrlimit(RLIMIT_NOFILE, &nofile);
    struct rlimit raised = { nofile.rlim_max, nofile.rlim_max };
    setrlimit(RLIMIT_NOFILE, &raised);
    if (getppid() == 1) return 1;
    signal(SIGPIPE, SIG_IGN);
    /* Our events go to the launcher's socket, not to a pipe: it reads a
     * socket without the byte-stream machinery a pipe of Deno's costs it. */
    int ev = connect_to(argv[1], -1, 0);
    if (ev < 0 || dup2(ev, 1) < 0) {
        fprintf(stderr, "fork_at_ts: cannot connect to %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    close(ev);

    char *t = string("the plan's start");
    if (!strcmp(t, "W")) {
        free(t);
        needle = string("the ready needle");
        needle_len = strlen(needle);
        ready_flags = (int)number("the ready flags");
        pss_step = number("the PSS step");
        watch_init();
        t = string("the plan's start");
    }
    if (strcmp(t, "N")) {
        fprintf(stderr, "fork_at_ts: the plan must start with N, not \"%s\"\n", t);
        return 2;
    }
    free(t);
    n = (int)number("the count");
    insts = calloc((size_t)(n > 0 ? n : 1), sizeof *insts);
    for (int k = 0; k < n; k++) {
        struct inst *s = &insts[k];
        s->index = (int)number("an index");
        s->deadline_ns = number("a deadline");
        int ac = (int)number("argc");
        s->envc = (int)number("envc");
        if (ac < 1) {
            fprintf(stderr, "fork_at_ts: instance %d has an empty argv\n", s->index);
            return 2;
        }
        s->argv = calloc((size_t)ac + 1, sizeof(char *));
        for (int a = 0; a < ac; a++) s->argv[a] = string("an argument");
        s->env = calloc((size_t)s->envc + 1, sizeof(char *));
        for (int e = 0; e < s->envc; e++) s->env[e] = string("an environment entry");
        s->out = s->err = -1;
        s->watch_done = needle_len == 0;
    }

    int got = prctl(PR_GET_TIMERSLACK);
    slack_ns = got > 0 ? (unsigned long)got : 50000;
    const char *rt_warning = NULL;
    if (set_rt(1)) {
        set_rt(0);
    } else {
        rt_warning = strerror(errno);
    }
    if (rt_warning) {
        say("R no SCHED_FIFO for the spawn helper (%s): it waits for deadlines at normal priority\n",
            rt_warning);
    } else {
        say("R ok\n");
    }

    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int k = 0; k < n; k++) {
        insts[k].out = connect_to(argv[1], insts[k].index, 1);
        insts[k].err = connect_to(argv[1], insts[k].index, 2);
        if (insts[k].out < 0 || insts[k].err < 0) {
            fprintf(stderr, "fork_at_ts: cannot connect to %s: %s\n", argv[1],
                    strerror(errno));
            return 1;
        }
    }
    say("C\n");

    /* Instance threads: normal priority whatever ours is, small stacks. */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, STACK_SLOT);
    void *m = mmap(NULL, (size_t)(n > 0 ? n : 1) * STACK_SLOT, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    stacks = m == MAP_FAILED ? NULL : m; /* else a mapping per thread, as before */
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
    struct sched_param zero = { .sched_priority = 0 };
    pthread_attr_setschedparam(&attr, &zero);
    sigprocmask(SIG_SETMASK, NULL, &oldmask);

    t = token();
    if (!t || strcmp(t, "G")) {
        say("D\n");
        return 0;
    }
    free(t);
    int64_t t0 = number("T_0");
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

    int stopped = 0, k = 0;
    for (; k < n && !stopped; k++) {
        int64_t due = t0 + insts[k].deadline_ns;
        /*
         * Wait for a deadline ahead at SCHED_FIFO (on a loaded host a
         * normal-priority wake-up was up to 10 ms late at 5 ms intervals);
         * start the instances already due in a row at normal priority, as
         * the paper's harness does, so each start competes with the
         * instances already started. Starting a back-to-back storm from
         * SCHED_FIFO started all 64 together and made it 1.5-1.9x slower
         * here, as releasing 64 pre-forked instances at once does; so did
         * forking them one after the other from this thread (1.4x against
         * a thread per fork, `deno run -A bench/spawn_mode_ab.ts`).
         */
        int ahead = due - now_ns() > SPIN_NS;
        if (ahead && !rt && !rt_warning) set_rt(1);
        if (!ahead && rt) set_rt(0);
        for (;;) {
            int64_t left = due - now_ns();
            if (left <= SPIN_NS) break;
            struct pollfd p[1] = { { 0, POLLIN, 0 } };
            int64_t w = left - SPIN_NS;
            struct timespec to = { w / 1000000000LL, w % 1000000000LL };
            if (ppoll(p, 1, &to, NULL) > 0) {
                if (p[0].revents && stop_asked()) {
                    stopped = 1;
                    break;
                }
            }
        }
        if (stopped) break;
        while (now_ns() < due) {
        }
        insts[k].vfork = ahead;
        start(&insts[k]);
    }
    if (rt) set_rt(0);
    pthread_mutex_lock(&report_lock);
    while (reported < k) pthread_cond_wait(&report_cond, &report_lock);
    pthread_mutex_unlock(&report_lock);
    say("D\n");
    /* The sockets of instances never started (stopped by "Q"). */
    for (int j = stopped ? k : n; j < n; j++) {
        close(insts[j].out);
        close(insts[j].err);
    }

    /* The instance threads report exits; when the launcher closes stdin,
     * kill what is left and wait for their reports. */
    while (!in_eof) {
        struct pollfd p[1] = { { 0, POLLIN, 0 } };
        if (poll(p, 1, -1) < 0 && errno != EINTR) break;
        char b[256];
        ssize_t r = read(0, b, sizeof b);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) in_eof = 1;
    }
    __atomic_store_n(&closing, 1, __ATOMIC_RELEASE);
    kill_all();
    while (__atomic_load_n(&running, __ATOMIC_ACQUIRE) > 0) {
        kill_all();
        usleep(1000);
    }
    /* The launcher's CPU includes this helper's (bench/launcher_cpu.ts). */
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        say("U %lld\n", (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
                            (long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL);
    }
    return 0;
}
