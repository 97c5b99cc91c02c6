/* microlearn bench harness, Cortex-M: the semihosting call (Arm: BKPT 0xAB, operation in r0,
 * argument in r1, result in r0). */
#ifndef ML_BENCH_ARCH_H
#define ML_BENCH_ARCH_H

#include <stdint.h>

#define ML_SYS_WRITE0 0x04u
#define ML_SYS_EXIT 0x18u
#define ML_ADP_APPLICATION_EXIT 0x20026u /* SYS_EXIT reasons (on 32-bit CPUs the argument itself) */
#define ML_ADP_RUNTIME_ERROR 0x20023u

static inline uint32_t ml_semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

#endif
