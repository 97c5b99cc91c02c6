/* microlearn bench harness, RISC-V: the semihosting call (the RISC-V semihosting sequence
 * slli zero,zero,0x1f; ebreak; srai zero,zero,7 -- uncompressed and within one page -- operation in a0,
 * argument in a1, result in a0). */
#ifndef ML_BENCH_ARCH_H
#define ML_BENCH_ARCH_H

#include <stdint.h>

#define ML_SYS_WRITE0 0x04u
#define ML_SYS_EXIT 0x18u
#define ML_ADP_APPLICATION_EXIT 0x20026u /* SYS_EXIT reasons (on 32-bit CPUs the argument itself) */
#define ML_ADP_RUNTIME_ERROR 0x20023u

static inline uint32_t ml_semihost(uint32_t op, const void *arg) {
    register uint32_t a0 __asm("a0") = op;
    register const void *a1 __asm("a1") = arg;
    __asm volatile(".option push\n\t"
                   ".option norvc\n\t"
                   ".balign 16\n\t"
                   "slli zero, zero, 0x1f\n\t"
                   "ebreak\n\t"
                   "srai zero, zero, 0x7\n\t"
                   ".option pop"
                   : "+r"(a0)
                   : "r"(a1)
                   : "memory");
    return a0;
}

#endif
