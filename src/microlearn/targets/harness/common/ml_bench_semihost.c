/* microlearn bench harness, QEMU variant: run ml_bench_entry over the rows in ml_bench_rows and print
 * each output as one line of hex through semihosting (ml_semihost() of the CPU's ml_bench_arch.h), then
 * exit. */
#include <stddef.h>
#include <stdint.h>

#include "ml_bench.h"
#include "ml_bench_arch.h"

extern const uint8_t ml_bench_rows[];
extern const uint32_t ml_bench_n_rows, ml_bench_in_size, ml_bench_out_size;

int main(void) {
    static const char hex[] = "0123456789abcdef";
    char line[2u * 256u + 2u];
    for (uint32_t r = 0; r < ml_bench_n_rows; ++r) {
        const uint8_t *row = ml_bench_rows + (size_t)r * ml_bench_in_size;
        for (uint32_t i = 0; i < ml_bench_in_size; ++i) {
            ml_bench_in[i] = row[i];
        }
        ml_bench_entry(ml_bench_in, ml_bench_out);
        uint32_t n = ml_bench_out_size < 256u ? ml_bench_out_size : 256u;
        for (uint32_t i = 0; i < n; ++i) {
            line[2u * i] = hex[ml_bench_out[i] >> 4];
            line[2u * i + 1u] = hex[ml_bench_out[i] & 15u];
        }
        line[2u * n] = '\n';
        line[2u * n + 1u] = '\0';
        (void)ml_semihost(ML_SYS_WRITE0, line);
    }
    (void)ml_semihost(ML_SYS_EXIT, (const void *)(uintptr_t)ML_ADP_APPLICATION_EXIT);
    ml_bench_halt();
}
