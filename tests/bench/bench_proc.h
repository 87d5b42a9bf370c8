/* bench_proc.h - memory and CPU figures of another process, from /proc.
 * See bench_proc.c for the contract. */
#ifndef PORTREEVE_BENCH_PROC_H
#define PORTREEVE_BENCH_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* VmRSS and VmHWM of PID in KiB; 0 on success, -1 if /proc/PID/status
 * cannot be read or lacks them. */
int bench_proc_mem(pid_t pid, uint64_t *rss_kb, uint64_t *hwm_kb);

/* CPU time (user + system) of PID in microseconds; 0 on success, -1 on
 * error. */
int bench_proc_cpu(pid_t pid, uint64_t *cpu_us);

#endif
