/* bench_proc.c - memory and CPU figures of another process, from /proc.
 *
 * Public: bench_proc_mem() (VmRSS, VmHWM from /proc/PID/status),
 * bench_proc_cpu() (CPU time in microseconds: the nanosecond run time from
 * /proc/PID/schedstat where the kernel has it, else utime + stime from
 * /proc/PID/stat, whose resolution is one clock tick, usually 10 ms).
 *
 * Contract: the files are read whole into a fixed 4 KiB buffer (status is
 * ~1.5 KiB, stat ~300 bytes); longer content is truncated, which only loses
 * fields we do not use. Never prints or exits.
 */
#include "bench_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read /proc/PID/NAME into BUF (NUL-terminated); bytes read or -1. */
static ssize_t read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
    char path[64];
    int n = snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < size - 1) {
        ssize_t r = read(fd, buf + got, size - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* Value in kB of the status line starting with KEY (e.g. "VmRSS:"). */
static int status_kb(const char *status, const char *key, uint64_t *out)
{
    size_t klen = strlen(key);
    for (const char *p = status; p != NULL && *p != '\0';) {
        if (strncmp(p, key, klen) == 0) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(p + klen, &end, 10);
            if (errno != 0 || end == p + klen)
                return -1;
            *out = v;
            return 0;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

int bench_proc_mem(pid_t pid, uint64_t *rss_kb, uint64_t *hwm_kb)
{
    char buf[4096];
    if (read_proc(pid, "status", buf, sizeof(buf)) <= 0)
        return -1;
    if (status_kb(buf, "VmRSS:", rss_kb) != 0 || status_kb(buf, "VmHWM:", hwm_kb) != 0)
        return -1;
    return 0;
}

int bench_proc_cpu(pid_t pid, uint64_t *cpu_us)
{
    char buf[4096];
    if (read_proc(pid, "schedstat", buf, sizeof(buf)) > 0) {
        /* "run_ns wait_ns timeslices": time spent on a CPU, user + system */
        char *end = NULL;
        errno = 0;
        unsigned long long ns = strtoull(buf, &end, 10);
        if (errno == 0 && end != buf && *end == ' ') {
            *cpu_us = ns / 1000u;
            return 0;
        }
    }
    if (read_proc(pid, "stat", buf, sizeof(buf)) <= 0)
        return -1;
    /* comm may contain spaces and parentheses: fields start after the last ')'. */
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p++;
    /* After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt
     * cminflt majflt cmajflt utime(14) stime(15). */
    unsigned long long utime = 0, stime = 0;
    for (int field = 3; field <= 15; field++) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return -1;
        if (field == 14 || field == 15) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(p, &end, 10);
            if (errno != 0 || end == p)
                return -1;
            if (field == 14)
                utime = v;
            else
                stime = v;
            p = end;
        } else {
            while (*p != ' ' && *p != '\0')
                p++;
        }
    }
    long tck = sysconf(_SC_CLK_TCK);
    if (tck <= 0)
        return -1;
    *cpu_us = (utime + stime) * 1000000ull / (unsigned long long)tck;
    return 0;
}
