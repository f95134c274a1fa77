/*
 * bootstorm synthetic guest: a boot whose cost is known by construction.
 *
 * Kernel command line (multiboot cmdline, QEMU -append):
 *   touch_mib=N   write one word to every 4 KiB page of N MiB of RAM from
 *                 2 MiB up (the QEMU process's RSS grows by about N MiB)
 *   spin_ms=M     then busy-wait about M ms on the TSC, calibrated against
 *                 PIT channel 0 (only when M > 0; the calibration, about
 *                 6 ms, counts towards M)
 *   verbose=1     after the ready line, print a line with the details
 *   exit=1        after the ready line, write to isa-debug-exit (port 0xf4):
 *                 QEMU exits when -device isa-debug-exit is present
 * then prints "READY touch_mib=N spin_ms=M\n" on COM1 (0x3F8) and halts.
 * Errors (bad value, not enough RAM) print "ERROR ..." and halt without
 * the ready line.
 *
 * Freestanding, 32-bit protected mode, paging off, interrupts off.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define MB_BOOT_MAGIC 0x2BADB002u
#define MB_INFO_MEM (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)

struct multiboot_info {
  u32 flags;
  u32 mem_lower; /* KiB below 1 MiB */
  u32 mem_upper; /* KiB above 1 MiB */
  u32 boot_device;
  u32 cmdline;
};

#define COM1 0x3F8
#define PIT_HZ 1193182u
#define TOUCH_BASE 0x200000u

static inline void outb(u16 port, u8 v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port) {
  u8 v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

static inline u64 rdtsc(void) {
  u32 lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((u64)hi << 32) | lo;
}

static void serial_putc(char c) {
  while ((inb(COM1 + 5) & 0x20) == 0) {
  }
  outb(COM1, (u8)c);
}

static void serial_puts(const char *s) {
  while (*s) serial_putc(*s++);
}

static void serial_putu(u32 v) {
  char buf[11];
  int i = 10;
  buf[i] = 0;
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  serial_puts(&buf[i]);
}

/* 64-by-32 division by shift and subtract (no libgcc in a freestanding guest). */
static u64 udiv64(u64 n, u32 d) {
  u64 q = 0, r = 0;
  for (int i = 63; i >= 0; i--) {
    r = (r << 1) | ((n >> i) & 1);
    if (r >= d) {
      r -= d;
      q |= (u64)1 << i;
    }
  }
  return q;
}

/* Find "key=" at the start of a word; parse the decimal after it. */
static int param(const char *cmdline, const char *key, u32 *out) {
  const char *p = cmdline;
  while (*p) {
    if (p == cmdline || p[-1] == ' ') {
      const char *k = key, *q = p;
      while (*k && *q == *k) {
        k++;
        q++;
      }
      if (*k == 0 && *q == '=') {
        q++;
        u32 v = 0;
        int digits = 0;
        while (*q >= '0' && *q <= '9') {
          if (v > 400000000u) return -1;
          v = v * 10 + (u32)(*q - '0');
          q++;
          digits++;
        }
        if (digits == 0 || (*q != 0 && *q != ' ')) return -1;
        *out = v;
        return 1;
      }
    }
    p++;
  }
  return 0;
}

/* PIT channel 0 as a free-running down-counter (mode 2, reload 65536). */
static void pit_start(void) {
  outb(0x43, 0x34);
  outb(0x40, 0);
  outb(0x40, 0);
}

static u16 pit_read(void) {
  outb(0x43, 0x00); /* latch channel 0 */
  u8 lo = inb(0x40);
  u8 hi = inb(0x40);
  return (u16)(lo | (hi << 8));
}

/* TSC cycles per ms over one window of `ticks` PIT ticks (0: no PIT). */
static u64 tsc_per_ms_window(u32 ticks) {
  u16 prev = pit_read();
  u64 t0 = rdtsc();
  u32 elapsed = 0;
  u32 still = 0;
  while (elapsed < ticks) {
    u16 now = pit_read();
    u16 d = (u16)(prev - now);
    if (d == 0) {
      if (++still > 1000000u) return 0; /* the counter never moves: no PIT */
    } else {
      still = 0;
    }
    elapsed += d;
    prev = now;
  }
  u64 cycles = rdtsc() - t0;
  return udiv64(cycles * PIT_HZ, elapsed * 1000u);
}

/* Median of three windows of 2 ms: one window stretched by a host
 * preemption longer than the PIT's 55 ms wrap is voted out. */
static u64 tsc_per_ms(void) {
  u64 a, b, c, t;
  pit_start();
  a = tsc_per_ms_window(PIT_HZ / 500u);
  b = tsc_per_ms_window(PIT_HZ / 500u);
  c = tsc_per_ms_window(PIT_HZ / 500u);
  if (a > b) { t = a; a = b; b = t; }
  if (b > c) { t = b; b = c; c = t; }
  if (a > b) { t = a; a = b; b = t; }
  return b;
}

void guest_main(u32 magic, struct multiboot_info *mbi) {
  const char *cmdline = "";
  u32 touch_mib = 0, spin_ms = 0, verbose = 0, do_exit = 0;

  if (magic != MB_BOOT_MAGIC) {
    serial_puts("ERROR not booted by a multiboot loader\n");
    return;
  }
  if (mbi->flags & MB_INFO_CMDLINE) cmdline = (const char *)mbi->cmdline;
  if (param(cmdline, "touch_mib", &touch_mib) < 0 ||
      param(cmdline, "spin_ms", &spin_ms) < 0 ||
      param(cmdline, "verbose", &verbose) < 0 ||
      param(cmdline, "exit", &do_exit) < 0) {
    serial_puts("ERROR bad command line (want touch_mib=N spin_ms=M, decimal): ");
    serial_puts(cmdline);
    serial_putc('\n');
    return;
  }

  /* Touch: one write per 4 KiB page of [2 MiB, 2 MiB + N MiB). */
  u32 ram_end = 0x100000u + ((mbi->flags & MB_INFO_MEM) ? mbi->mem_upper * 1024u : 0);
  if (touch_mib > 4000u || TOUCH_BASE + touch_mib * 0x100000u > ram_end) {
    serial_puts("ERROR touch_mib=");
    serial_putu(touch_mib);
    serial_puts(" needs RAM up to ");
    serial_putu((TOUCH_BASE >> 20) + touch_mib);
    serial_puts(" MiB, the guest has ");
    serial_putu(ram_end >> 20);
    serial_puts(" MiB: raise -m\n");
    return;
  }
  for (u32 addr = TOUCH_BASE; addr < TOUCH_BASE + touch_mib * 0x100000u; addr += 4096u) {
    *(volatile u32 *)addr = addr;
  }

  /* Spin: about spin_ms ms of busy waiting, calibration included. */
  u64 per_ms = 0;
  if (spin_ms > 0) {
    u64 start = rdtsc();
    per_ms = tsc_per_ms();
    if (per_ms == 0) {
      serial_puts("ERROR spin_ms needs a PIT (channel 0) to calibrate the TSC\n");
      return;
    }
    u64 target = per_ms * spin_ms;
    while (rdtsc() - start < target) {
      __asm__ volatile("pause");
    }
  }

  serial_puts("READY touch_mib=");
  serial_putu(touch_mib);
  serial_puts(" spin_ms=");
  serial_putu(spin_ms);
  serial_putc('\n');
  if (verbose) {
    serial_puts("synthetic: tsc_khz=");
    serial_putu((u32)per_ms);
    serial_puts(" ram_mib=");
    serial_putu(ram_end >> 20);
    serial_puts(" cmdline=\"");
    serial_puts(cmdline);
    serial_puts("\"\n");
  }
  if (do_exit) outb(0xf4, 0);
}
