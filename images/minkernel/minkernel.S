/*
 * minkernel: the paper's baseline guest. Multiboot v1, 32-bit, loaded by
 * QEMU's direct kernel load (-kernel). 8 instructions: set up a stack,
 * write "Hello\n" to the serial port (I/O port 0x3F8), halt.
 */
.code32
.section .text
.globl _start
.align 4
multiboot_header:
  .long 0x1BADB002            /* magic */
  .long 0x00000000            /* flags: ELF headers give the load address */
  .long -0x1BADB002           /* checksum */
_start:
  mov $stack_top, %esp        /* 1: stack */
  mov $msg, %esi              /* 2: message */
  mov $0x3f8, %dx             /* 3: COM1 data port */
  mov $msg_len, %ecx          /* 4: length */
  rep outsb                   /* 5: write the bytes */
halt:
  hlt                         /* 6: halt */
  jmp halt                    /* 7: stay halted after an interrupt */
msg:
  .ascii "Hello\n"
  .set msg_len, . - msg
.section .bss
.align 16
  .skip 256
stack_top:
