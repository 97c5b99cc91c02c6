/* microlearn bench harness: vector table and reset handler (bare metal, no libc start-up). */
#include <stdint.h>

#include "ml_bench.h"
#include "ml_bench_arch.h"

extern uint32_t ml_bench_data_start[], ml_bench_data_end[], ml_bench_data_load[];
extern uint32_t ml_bench_bss_start[], ml_bench_bss_end[];
extern uint32_t ml_bench_stack_top[];

int main(void);
void ml_bench_reset(void);
void ml_bench_fault(void);

__attribute__((section(".vectors"), used)) static void (*const ml_bench_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)ml_bench_stack_top, /* initial SP */
    ml_bench_reset,                                /* reset */
    ml_bench_fault,                                /* NMI */
    ml_bench_fault,                                /* HardFault */
    ml_bench_fault,                                /* MemManage */
    ml_bench_fault,                                /* BusFault */
    ml_bench_fault,                                /* UsageFault */
    0, 0, 0, 0,
    ml_bench_fault, /* SVCall */
    ml_bench_fault, /* DebugMonitor */
    0,
    ml_bench_fault, /* PendSV */
    ml_bench_fault, /* SysTick */
};

__attribute__((noreturn, noinline)) void ml_bench_halt(void) {
    for (;;) {
        __asm volatile("nop");
    }
}

/* Any fault or unexpected exception: under QEMU, end the run with an error through semihosting (the
 * emulator stops at the faulting instruction itself and never gets here). */
__attribute__((noreturn, noinline)) void ml_bench_fault(void) {
    (void)ml_semihost(ML_SYS_EXIT, (const void *)(uintptr_t)ML_ADP_RUNTIME_ERROR);
    for (;;) {
        __asm volatile("nop");
    }
}

/* The copy loops stay loops (not memcpy/memset calls), so the harness pulls in no library code. */
__attribute__((noreturn, optimize("no-tree-loop-distribute-patterns"))) void ml_bench_reset(void) {
    const uint32_t *src = ml_bench_data_load;
    for (uint32_t *dst = ml_bench_data_start; dst < ml_bench_data_end; ++dst) {
        *dst = *src++;
    }
    for (uint32_t *dst = ml_bench_bss_start; dst < ml_bench_bss_end; ++dst) {
        *dst = 0u;
    }
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 (the FPU) */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    (void)main();
    ml_bench_halt();
}
