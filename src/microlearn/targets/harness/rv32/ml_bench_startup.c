/* microlearn bench harness, RV32: reset entry (first in flash) and start-up code (bare metal, no libc
 * start-up, no interrupts). */
#include <stdint.h>

#include "ml_bench.h"
#include "ml_bench_arch.h"

extern uint32_t ml_bench_data_start[], ml_bench_data_end[], ml_bench_data_load[];
extern uint32_t ml_bench_bss_start[], ml_bench_bss_end[];

int main(void);
void ml_bench_reset(void);
void ml_bench_start(void);
void ml_bench_fault(void);

/* The CPU starts here (the first word of flash): set the stack pointer and enter C. */
__attribute__((naked, section(".vectors"), used)) void ml_bench_reset(void) {
    __asm volatile("la sp, ml_bench_stack_top\n\t"
                   "j ml_bench_start");
}

__attribute__((noreturn, noinline)) void ml_bench_halt(void) {
    for (;;) {
        __asm volatile("nop");
    }
}

/* Any trap (mtvec points here): under QEMU, end the run with an error through semihosting (the emulator
 * stops at the trapping instruction itself and never gets here). */
__attribute__((noreturn, noinline, aligned(4))) void ml_bench_fault(void) {
    (void)ml_semihost(ML_SYS_EXIT, (const void *)(uintptr_t)ML_ADP_RUNTIME_ERROR);
    for (;;) {
        __asm volatile("nop");
    }
}

/* The copy loops stay loops (not memcpy/memset calls), so the harness pulls in no library code. */
__attribute__((noreturn, optimize("no-tree-loop-distribute-patterns"))) void ml_bench_start(void) {
    const uint32_t *src = ml_bench_data_load;
    for (uint32_t *dst = ml_bench_data_start; dst < ml_bench_data_end; ++dst) {
        *dst = *src++;
    }
    for (uint32_t *dst = ml_bench_bss_start; dst < ml_bench_bss_end; ++dst) {
        *dst = 0u;
    }
    __asm volatile(".option push\n\t"
                   ".option arch, +zicsr\n\t"
                   "csrw mtvec, %0\n\t"
                   ".option pop"
                   :
                   : "r"(ml_bench_fault));
    (void)main();
    ml_bench_halt();
}
