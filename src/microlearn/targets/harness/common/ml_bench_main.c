/* microlearn bench harness: the firmware's main. The emulator calls ml_bench_entry directly, once per
 * input; this call keeps it (and everything it uses) in the image, as a firmware's call would. */
#include "ml_bench.h"

int main(void) {
    ml_bench_entry(ml_bench_in, ml_bench_out);
    return 0;
}
