/*
 * minkernel-exit: minkernel that ends QEMU by itself after printing, through
 * `-device isa-debug-exit,iobase=0xf4,iosize=0x04` (QEMU then exits with
 * status (0 << 1) | 1 = 1). 9 instructions.
 */
.code32
.section .text
.globl _start
.align 4
multiboot_header:
  .long 0x1BADB002
  .long 0x00000000
  .long -0x1BADB002
_start:
  mov $stack_top, %esp        /* 1 */
  mov $msg, %esi              /* 2 */
  mov $0x3f8, %dx             /* 3 */
  mov $msg_len, %ecx          /* 4 */
  rep outsb                   /* 5 */
  xor %eax, %eax              /* 6: exit value 0 */
  outb %al, $0xf4             /* 7: isa-debug-exit: QEMU exits with 1 */
halt:
  hlt                         /* 8 */
  jmp halt                    /* 9 */
msg:
  .ascii "Hello\n"
  .set msg_len, . - msg
.section .bss
.align 16
  .skip 256
stack_top:
