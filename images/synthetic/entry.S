/*
 * bootstorm synthetic guest: multiboot v1 header and 32-bit entry.
 * QEMU's direct kernel load (-kernel) enters here in protected mode, paging
 * off, with EAX = 0x2BADB002 and EBX = the multiboot information structure.
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000002          /* bit 1: give us the memory map fields */

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .text
        .globl _start
_start:
        cli
        mov $stack_top, %esp
        push %ebx                          /* multiboot info */
        push %eax                          /* magic */
        call guest_main
1:      cli
        hlt
        jmp 1b

        .bss
        .align 16
stack_bottom:
        .skip 16384
stack_top:

        .section .note.GNU-stack, "", @progbits
