/* microlearn bench harness: the one function a measured image provides, and where its data lives. */
#ifndef ML_BENCH_H
#define ML_BENCH_H

#include <stdint.h>

/* Defined by the glue: compute one result from the input blob `in`, write it to `out`. */
void ml_bench_entry(const void *in, void *out);

/* Input and output buffers (linker script: IO region, 8-byte aligned, not counted as the model's RAM). */
extern uint8_t ml_bench_in[];
extern uint8_t ml_bench_out[];

__attribute__((noreturn)) void ml_bench_halt(void);

#endif
