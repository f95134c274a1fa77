/*
 * harness: a plain C implementation of the paper's Algorithm 1 (Kanatsu et
 * al. 2016), the reference the bootstorm launcher is compared against.
 *
 *   T_0 <- now
 *   for each of the N instances:
 *       (interval mode: sleep until T_0 + i * interval)
 *       T_s <- now
 *       start a thread that fork()s + exec()s the instance, polls its stdout
 *       and takes T_e when the ready condition is met
 *   wait until every instance has finished
 *
 * Every time is CLOCK_MONOTONIC, written in ms after T_0 with µs resolution.
 *
 * Usage:
 *   harness -n N [-i INTERVAL_MS] (-r READY_REGEX | -x | -f) [-t TIMEOUT_MS]
 *           [-o out.csv] -- argv...
 *
 *   -n N           number of instances (default 1)
 *   -i MS          open-loop interval between scheduled starts (may be
 *                  fractional); 0 or absent = back-to-back
 *   -r REGEX       ready = the first time the current output line (the bytes
 *                  since the last '\n', partial lines included) matches this
 *                  POSIX extended regex, unanchored; then the child is killed
 *                  with SIGKILL (kill-after-ready)
 *   -x             ready = the process exits (for timing the floor: fork+exec
 *                  of /bin/true, qemu -M none ...)
 *   -f             ready = the first byte on stdout (the paper's own rule)
 *   -p P           closed loop instead: keep P instances in flight, starting
 *                  the next one when one finishes (-p 1 = one at a time)
 *   -t MS          per-instance timeout from T_s (default 30000)
 *   -o FILE        CSV output (default stdout)
 *   -c FILE        cgroup.procs file of a memory cgroup: the harness joins it
 *                  (writes "0") before T_0 and every child inherits it, so a
 *                  sampler can read the run's own memory, as the launcher's
 *                  spawn helper does (a join in each child before its exec
 *                  cost ~11 ms inside ΔT: 46.4 against 35.5 ms at N = 1)
 *   -S             stop-start (back-to-back only; the launcher's pre-start):
 *                  before T_0 every instance is forked and stops itself
 *                  (SIGSTOP before its exec); at T_0 the main thread takes
 *                  each T_s and sends SIGCONT. The exec is inside ΔT, the
 *                  fork is not, as in the launcher. forked_ms stays empty.
 *   -P             as -S, but each pre-forked child waits in a read() of a
 *                  pipe of its own instead of being stopped, and is released
 *                  by a byte written to it (tells the stop/continue path
 *                  apart from pre-forking itself)
 *   -g US          with -S or -P: sleep US microseconds between releases
 *   -R             run the scheduling (main) thread at SCHED_FIFO priority 1
 *                  when permitted (not the paper's method: a variant showing
 *                  how much of the schedule error is wake-up latency); the
 *                  instance threads and children stay SCHED_OTHER
 *
 * Each child gets stdin = /dev/null, stdout = its own pipe, stderr =
 * /dev/null. CSV columns:
 *   instance,scheduled_ms,t_s_ms,first_output_ms,ready_ms,boot_ms,
 *   first_output_boot_ms,outcome,forked_ms,exit_ms,exit_code,signal,
 *   output_bytes
 * Empty cells are nulls. outcome is ready | timeout | exited_before_ready |
 * spawn_failed.
 *
 * Build: cc -O2 -pthread -Wall -Wextra -o harness harness.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum ready_mode { READY_REGEX, READY_EXIT, READY_FIRST_OUTPUT };

/* -c: the cgroup.procs file children join before their exec (-1: none). */

enum outcome {
  OUT_NONE,
  OUT_READY,
  OUT_TIMEOUT,
  OUT_EXITED_BEFORE_READY,
  OUT_SPAWN_FAILED
};

static const char *outcome_name(enum outcome o) {
  switch (o) {
  case OUT_READY:
    return "ready";
  case OUT_TIMEOUT:
    return "timeout";
  case OUT_EXITED_BEFORE_READY:
    return "exited_before_ready";
  case OUT_SPAWN_FAILED:
    return "spawn_failed";
  default:
    return "";
  }
}

#define LINE_CAP 8192
#define READ_CAP 16384

struct instance {
  int index;
  int64_t scheduled_ns; /* -1 = none (back-to-back) */
  int64_t t_s_ns;
  int64_t forked_ns;
  int64_t first_output_ns;
  int64_t ready_ns;
  int64_t exit_ns;
  int exit_code; /* -1 = none */
  int signal;    /* 0 = none */
  long long output_bytes;
  enum outcome outcome;
  int spawn_errno;
  pthread_t thread;
  int started;
  pid_t pid;    /* -S: the stopped child */
  sem_t held;   /* -S: posted once the child is stopped */
  sem_t go;     /* -S: posted after its SIGCONT */
  int gofd[2];  /* -P: the child reads one byte from gofd[0] */
  size_t line_len;
  char line[LINE_CAP + 1];
};

/* Shared, read-only once the loop starts. */
static struct timespec t0;
static enum ready_mode mode = READY_REGEX;
static regex_t ready_re;
static int64_t timeout_ns = 30000LL * 1000000LL;
static char *exec_path;
static char **exec_argv;
static int devnull_fd = -1;
static sem_t slots; /* closed loop (-p): free places */
static int closed_loop = 0;
static int stop_start = 0; /* -S or -P */
static int pipe_hold = 0;  /* -P */
static long release_gap_us = 0; /* -g */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)(ts.tv_sec - t0.tv_sec) * 1000000000LL +
         (ts.tv_nsec - t0.tv_nsec);
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

static void record_status(struct instance *in, int status) {
  in->exit_ns = now_ns();
  if (WIFEXITED(status))
    in->exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    in->signal = WTERMSIG(status);
}

static void reap(struct instance *in, pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  record_status(in, status);
}

/* Appends a chunk to the current line ('\r' dropped, split at '\n') and
 * reports whether the ready regex matched the line being built (partial lines
 * included) at the end of any line piece of the chunk. */
static int feed(struct instance *in, const char *buf, size_t n) {
  int grown = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || buf[i] == '\n') {
      if (grown) {
        in->line[in->line_len] = '\0';
        if (regexec(&ready_re, in->line, 0, NULL, 0) == 0)
          return 1;
      }
      if (i < n)
        in->line_len = 0;
      grown = 0;
      continue;
    }
    if (buf[i] == '\r')
      continue;
    if (in->line_len == LINE_CAP) {
      /* very long line: keep its newest half */
      memmove(in->line, in->line + LINE_CAP / 2, LINE_CAP / 2);
      in->line_len = LINE_CAP / 2;
    }
    in->line[in->line_len++] = buf[i];
    grown = 1;
  }
  return 0;
}

/* Reads what is available; returns 1 on EOF, 0 otherwise. Sets *ready when
 * the ready condition is met. */
static int drain(struct instance *in, int fd, int *ready) {
  char buf[READ_CAP];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return errno == EAGAIN ? 0 : 1;
    }
    if (r == 0)
      return 1;
    int64_t t = now_ns();
    if (in->first_output_ns < 0)
      in->first_output_ns = t;
    in->output_bytes += r;
    if (!*ready) {
      if (mode == READY_FIRST_OUTPUT ||
          (mode == READY_REGEX && feed(in, buf, (size_t)r))) {
        *ready = 1;
        in->ready_ns = t;
        return 0;
      }
    }
  }
}

static void *run_instance(void *arg) {
  struct instance *in = arg;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0) {
    in->spawn_errno = errno;
    in->outcome = OUT_SPAWN_FAILED;
    if (closed_loop)
      sem_post(&slots);
    return NULL;
  }
  if (pipe2(err, O_CLOEXEC) < 0) {
    in->spawn_errno = errno;
    in->outcome = OUT_SPAWN_FAILED;
    close(out[0]);
    close(out[1]);
    if (closed_loop)
      sem_post(&slots);
    return NULL;
  }
  pid_t pid = fork();
  if (pid == 0) {
    /* child: async-signal-safe calls only */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(devnull_fd, 0);
    dup2(out[1], 1);
    dup2(devnull_fd, 2);
    if (pipe_hold) {
      char c;
      ssize_t r = read(in->gofd[0], &c, 1);
      (void)r;
    } else if (stop_start) {
      raise(SIGSTOP);
    }
    execv(exec_path, exec_argv);
    int e = errno;
    ssize_t w = write(err[1], &e, sizeof e);
    (void)w;
    _exit(127);
  }
  in->forked_ns = stop_start ? -1 : now_ns();
  close(out[1]);
  close(err[1]);
  if (stop_start) {
    /* held stopped until the main thread's SIGCONT at T_s */
    int st = 0;
    if (pid > 0 && !pipe_hold)
      while (waitpid(pid, &st, WUNTRACED) < 0 && errno == EINTR) {
      }
    in->pid = pid;
    sem_post(&in->held);
    while (sem_wait(&in->go) < 0 && errno == EINTR) {
    }
  }
  if (pid < 0) {
    in->spawn_errno = errno;
    in->outcome = OUT_SPAWN_FAILED;
    close(out[0]);
    close(err[0]);
    if (closed_loop)
      sem_post(&slots);
    return NULL;
  }
  fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
  int pidfd = pidfd_open_(pid);

  struct pollfd fds[3];
  int out_open = 1, err_open = 1, exited = 0, ready = 0;
  int64_t deadline = in->t_s_ns + timeout_ns;
  while (!ready && !exited) {
    int nf = 0, i_out = -1, i_err = -1, i_pid = -1;
    if (out_open) {
      fds[nf] = (struct pollfd){.fd = out[0], .events = POLLIN};
      i_out = nf++;
    }
    if (err_open) {
      fds[nf] = (struct pollfd){.fd = err[0], .events = POLLIN};
      i_err = nf++;
    }
    if (pidfd >= 0) {
      fds[nf] = (struct pollfd){.fd = pidfd, .events = POLLIN};
      i_pid = nf++;
    }
    int64_t left = deadline - now_ns();
    if (left <= 0) {
      in->outcome = OUT_TIMEOUT;
      break;
    }
    int ms = (int)((left + 999999) / 1000000);
    if (nf == 0) {
      /* no pidfd and stdout closed: wait for the exit itself */
      reap(in, pid);
      exited = 1;
      break;
    }
    int pr = poll(fds, (nfds_t)nf, ms);
    if (pr < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (pr == 0)
      continue;
    if (i_err >= 0 && fds[i_err].revents) {
      int e;
      ssize_t r;
      while ((r = read(err[0], &e, sizeof e)) < 0 && errno == EINTR) {
      }
      close(err[0]);
      err_open = 0;
      if (r == (ssize_t)sizeof e) {
        in->spawn_errno = e;
        in->outcome = OUT_SPAWN_FAILED;
        reap(in, pid);
        exited = 1;
        break;
      }
    }
    if (i_out >= 0 && fds[i_out].revents) {
      if (drain(in, out[0], &ready)) {
        out_open = 0;
      }
    }
    if (ready)
      break;
    if (i_pid >= 0 && fds[i_pid].revents) {
      /* exited: the ready line may still sit in the pipe */
      if (out_open && drain(in, out[0], &ready))
        out_open = 0;
      int64_t t_exit = now_ns();
      reap(in, pid);
      in->exit_ns = t_exit;
      exited = 1;
      if (!ready && mode == READY_EXIT) {
        ready = 1;
        in->ready_ns = t_exit;
      }
    } else if (pidfd < 0 && !out_open) {
      /* no pidfd: EOF on stdout stands for the exit */
      int64_t t_exit = now_ns();
      reap(in, pid);
      exited = 1;
      if (!ready && mode == READY_EXIT) {
        ready = 1;
        in->ready_ns = t_exit;
      }
    }
  }
  if (ready)
    in->outcome = OUT_READY;
  else if (in->outcome == OUT_NONE)
    in->outcome = exited ? OUT_EXITED_BEFORE_READY : OUT_TIMEOUT;
  if (!exited) {
    kill(pid, SIGKILL);
    reap(in, pid);
  }
  if (out_open)
    close(out[0]);
  if (err_open)
    close(err[0]);
  if (pidfd >= 0)
    close(pidfd);
  if (closed_loop)
    sem_post(&slots);
  return NULL;
}

static char *resolve(const char *name) {
  if (strchr(name, '/'))
    return access(name, X_OK) == 0 ? strdup(name) : NULL;
  const char *path = getenv("PATH");
  if (!path)
    path = "/usr/local/bin:/usr/bin:/bin";
  size_t nlen = strlen(name);
  while (*path) {
    const char *end = strchr(path, ':');
    size_t dlen = end ? (size_t)(end - path) : strlen(path);
    char *cand = malloc(dlen + nlen + 2);
    if (!cand)
      return NULL;
    if (dlen == 0) {
      memcpy(cand, name, nlen + 1);
    } else {
      memcpy(cand, path, dlen);
      cand[dlen] = '/';
      memcpy(cand + dlen + 1, name, nlen + 1);
    }
    struct stat st;
    if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
      return cand;
    free(cand);
    if (!end)
      break;
    path = end + 1;
  }
  return NULL;
}

static void fmt_ms(FILE *f, int64_t ns) { fprintf(f, "%.3f", (double)ns / 1e6); }

static void write_ns(FILE *f, int64_t ns, int present) {
  if (present)
    fmt_ms(f, ns);
}

static void usage(void) {
  fprintf(stderr,
          "usage: harness -n N [-i INTERVAL_MS] (-r READY_REGEX | -x | -f) "
          "[-p PARALLEL] [-t TIMEOUT_MS] [-o out.csv] [-c CGROUP_PROCS] [-R] [-S|-P [-g US]] -- argv...\n");
  exit(2);
}

int main(int argc, char **argv) {
  long n = 1;
  double interval_ms = 0;
  const char *regex = NULL;
  const char *out_path = NULL;
  int have_mode = 0;
  int realtime = 0;
  long parallel = 0;
  int opt;
  while ((opt = getopt(argc, argv, "+n:i:p:r:xft:o:c:RSPg:h")) != -1) {
    switch (opt) {
    case 'n':
      n = strtol(optarg, NULL, 10);
      break;
    case 'i':
      interval_ms = strtod(optarg, NULL);
      break;
    case 'r':
      regex = optarg;
      mode = READY_REGEX;
      have_mode++;
      break;
    case 'x':
      mode = READY_EXIT;
      have_mode++;
      break;
    case 'f':
      mode = READY_FIRST_OUTPUT;
      have_mode++;
      break;
    case 't':
      timeout_ns = (int64_t)(strtod(optarg, NULL) * 1e6);
      break;
    case 'o':
      out_path = optarg;
      break;
    case 'R':
      realtime = 1;
      break;
    case 'S':
      stop_start = 1;
      break;
    case 'P':
      stop_start = pipe_hold = 1;
      break;
    case 'g':
      release_gap_us = strtol(optarg, NULL, 10);
      if (release_gap_us < 0)
        usage();
      break;
    case 'c':
    {
      int fd = open(optarg, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1) {
        fprintf(stderr, "harness: cannot join the cgroup %s: %s\n", optarg,
                strerror(errno));
        return 2;
      }
      close(fd);
      break;
    }
    case 'p':
      parallel = strtol(optarg, NULL, 10);
      if (parallel < 1)
        usage();
      break;
    default:
      usage();
    }
  }
  if (optind >= argc || n < 1 || have_mode != 1 || interval_ms < 0 ||
      timeout_ns <= 0 || (parallel > 0 && interval_ms > 0) ||
      (stop_start && (parallel > 0 || interval_ms > 0)))
    usage();
  if (parallel > 0) {
    closed_loop = 1;
    sem_init(&slots, 0, (unsigned)parallel);
  }
  if (mode == READY_REGEX) {
    int rc = regcomp(&ready_re, regex, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      char msg[256];
      regerror(rc, &ready_re, msg, sizeof msg);
      fprintf(stderr, "harness: cannot compile ready regex \"%s\": %s\n", regex,
              msg);
      return 2;
    }
  }
  exec_argv = argv + optind;
  exec_path = resolve(exec_argv[0]);
  if (!exec_path) {
    fprintf(stderr,
            "harness: cannot run \"%s\": not found or not executable (check "
            "PATH)\n",
            exec_argv[0]);
    return 2;
  }
  devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull_fd < 0) {
    perror("harness: /dev/null");
    return 2;
  }
  FILE *out = stdout;
  if (out_path) {
    out = fopen(out_path, "w");
    if (!out) {
      fprintf(stderr, "harness: cannot write \"%s\": %s\n", out_path,
              strerror(errno));
      return 2;
    }
  }
  struct instance *ins = calloc((size_t)n, sizeof *ins);
  if (!ins) {
    perror("harness: calloc");
    return 2;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  if (realtime) {
    struct sched_param rt = {.sched_priority = 1};
    int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &rt);
    if (rc != 0)
      fprintf(stderr,
              "harness: -R: cannot use SCHED_FIFO (%s); running at normal "
              "priority\n",
              strerror(rc));
    struct sched_param normal = {.sched_priority = 0};
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
    pthread_attr_setschedparam(&attr, &normal);
  }
  int64_t interval_ns = (int64_t)(interval_ms * 1e6);

  /* Its own CPU from T_0 to the last reap (every thread, children not in
   * it): what the paper's method costs, against the launcher's. */
  struct timespec cpu_t0, cpu_end;
  if (stop_start) {
    /* fork every instance, stopped, before T_0 */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
      struct instance *in = &ins[i];
      in->index = (int)i;
      in->first_output_ns = in->ready_ns = in->exit_ns = in->forked_ns = -1;
      in->exit_code = -1;
      in->scheduled_ns = -1;
      sem_init(&in->held, 0, 0);
      sem_init(&in->go, 0, 0);
      in->gofd[0] = in->gofd[1] = -1;
      if (pipe_hold && pipe2(in->gofd, O_CLOEXEC) < 0) {
        perror("harness: -P pipe");
        return 2;
      }
      int rc = pthread_create(&in->thread, &attr, run_instance, in);
      if (rc != 0) {
        in->spawn_errno = rc;
        in->outcome = OUT_SPAWN_FAILED;
      } else {
        in->started = 1;
      }
    }
    for (long i = 0; i < n; i++)
      if (ins[i].started)
        while (sem_wait(&ins[i].held) < 0 && errno == EINTR) {
        }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_t0);
    clock_gettime(CLOCK_MONOTONIC, &t0); /* T_0 */
    for (long i = 0; i < n; i++) {
      struct instance *in = &ins[i];
      if (!in->started)
        continue;
      in->t_s_ns = now_ns(); /* T_s */
      if (pipe_hold) {
        ssize_t w = write(in->gofd[1], "g", 1);
        (void)w;
      } else if (in->pid > 0) {
        kill(in->pid, SIGCONT);
      }
      sem_post(&in->go);
      if (release_gap_us > 0)
        usleep((useconds_t)release_gap_us);
    }
  }
  if (!stop_start) {
    /* the CPU clock first: nothing between T_0 and the first T_s */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_t0);
    clock_gettime(CLOCK_MONOTONIC, &t0); /* T_0 */
  }
  for (long i = 0; i < n && !stop_start; i++) {
    struct instance *in = &ins[i];
    in->index = (int)i;
    in->first_output_ns = in->ready_ns = in->exit_ns = in->forked_ns = -1;
    in->exit_code = -1;
    in->scheduled_ns = -1;
    if (interval_ns > 0) {
      in->scheduled_ns = (int64_t)i * interval_ns;
      int64_t abs_ns = (int64_t)t0.tv_sec * 1000000000LL + t0.tv_nsec +
                       in->scheduled_ns;
      struct timespec ts = {.tv_sec = abs_ns / 1000000000LL,
                            .tv_nsec = abs_ns % 1000000000LL};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
             EINTR) {
      }
    }
    if (closed_loop)
      while (sem_wait(&slots) < 0 && errno == EINTR) {
      }
    in->t_s_ns = now_ns(); /* T_s */
    int rc = pthread_create(&in->thread, &attr, run_instance, in);
    if (rc != 0) {
      in->spawn_errno = rc;
      in->outcome = OUT_SPAWN_FAILED;
      if (closed_loop)
        sem_post(&slots);
    } else {
      in->started = 1;
    }
  }
  for (long i = 0; i < n; i++)
    if (ins[i].started)
      pthread_join(ins[i].thread, NULL);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_end);
  int64_t wall_end = now_ns();

  fprintf(out, "instance,scheduled_ms,t_s_ms,first_output_ms,ready_ms,boot_ms,"
               "first_output_boot_ms,outcome,forked_ms,exit_ms,exit_code,"
               "signal,output_bytes\n");
  int failed = 0;
  for (long i = 0; i < n; i++) {
    struct instance *in = &ins[i];
    fprintf(out, "%d,", in->index);
    write_ns(out, in->scheduled_ns, in->scheduled_ns >= 0);
    fputc(',', out);
    fmt_ms(out, in->t_s_ns);
    fputc(',', out);
    write_ns(out, in->first_output_ns, in->first_output_ns >= 0);
    fputc(',', out);
    int is_ready = in->outcome == OUT_READY;
    write_ns(out, in->ready_ns, is_ready);
    fputc(',', out);
    write_ns(out, in->ready_ns - in->t_s_ns, is_ready);
    fputc(',', out);
    write_ns(out, in->first_output_ns - in->t_s_ns, in->first_output_ns >= 0);
    fprintf(out, ",%s,", outcome_name(in->outcome));
    write_ns(out, in->forked_ns, in->forked_ns >= 0);
    fputc(',', out);
    write_ns(out, in->exit_ns, in->exit_ns >= 0);
    fputc(',', out);
    if (in->exit_code >= 0)
      fprintf(out, "%d", in->exit_code);
    fputc(',', out);
    if (in->signal > 0)
      fprintf(out, "%d", in->signal);
    fprintf(out, ",%lld\n", in->output_bytes);
    if (!is_ready)
      failed++;
    if (in->outcome == OUT_SPAWN_FAILED && in->spawn_errno)
      fprintf(stderr, "harness: instance %d: spawn failed: %s\n", in->index,
              strerror(in->spawn_errno));
  }
  if (out != stdout && fclose(out) != 0) {
    fprintf(stderr, "harness: cannot write \"%s\": %s\n", out_path,
            strerror(errno));
    return 2;
  }
  fprintf(stderr,
          "harness: %ld instances, %ld ready, %d not ready; cpu_ms %.3f "
          "wall_ms %.3f (from T_0)\n",
          n, n - failed, failed,
          ((cpu_end.tv_sec - cpu_t0.tv_sec) * 1e9 +
           (cpu_end.tv_nsec - cpu_t0.tv_nsec)) / 1e6,
          wall_end / 1e6);
  return 0;
}
