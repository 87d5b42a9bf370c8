/*
 * log.c - syslog or stderr logging for the daemons (see log.h).
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_BUFFER 65536

static int log_to_stderr = 1;
static int log_debug_on;
static char log_ident[64] = "portreeve";
static long log_pid;              /* cached: getpid() is a system call */
static time_t log_stamp_sec = -1; /* the second log_stamp was made for */
static char log_stamp[32];
static void (*log_hook)(void *);
static void *log_hook_arg;
static char log_buf[LOG_BUFFER];
static size_t log_len;

static const struct {
    const char *name;
    int value;
} log_facilities[] = {
    {"mail", LOG_MAIL},         {"daemon", LOG_DAEMON}, {"auth", LOG_AUTH},
    {"authpriv", LOG_AUTHPRIV}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1},     {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4},     {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
    {"local7", LOG_LOCAL7},
};

int log_facility(const char *name)
{
    for (size_t i = 0; i < sizeof(log_facilities) / sizeof(log_facilities[0]); i++)
        if (strcmp(name, log_facilities[i].name) == 0)
            return log_facilities[i].value;
    return -1;
}

int log_open(const char *ident, int to_stderr, const char *facility)
{
    int fac = log_facility(facility ? facility : "mail");

    if (fac < 0)
        return -1;
    snprintf(log_ident, sizeof(log_ident), "%s", ident);
    log_to_stderr = to_stderr;
    log_pid = (long)getpid();
    if (!to_stderr)
        openlog(log_ident, LOG_PID | LOG_NDELAY, fac);
    return 0;
}

void log_set_debug(int on)
{
    log_debug_on = on;
}

int log_debug_enabled(void)
{
    return log_debug_on;
}

/* Write all of buf to stderr. */
static void log_write(const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(2, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere to report it */
        buf += n;
        len -= (size_t)n;
    }
}

void log_flush(void)
{
    log_write(log_buf, log_len);
    log_len = 0;
}

void log_set_buffered(void (*hook)(void *), void *arg)
{
    log_flush();
    log_hook = hook;
    log_hook_arg = arg;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    static const char *const tag[] = {"error: ", "warning: ", "", ""};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    char line[4096];
    struct timespec ts;
    size_t n;
    int len;

    if (!log_to_stderr) {
        vsnprintf(line, sizeof(line), fmt, ap);
        syslog(prio[level], "%s%s", tag[level], line);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != log_stamp_sec) {
        struct tm tm;
        localtime_r(&ts.tv_sec, &tm);
        strftime(log_stamp, sizeof(log_stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        log_stamp_sec = ts.tv_sec;
    }
    len = snprintf(line, sizeof(line), "%s.%03ld %s[%ld]: %s", log_stamp, ts.tv_nsec / 1000000L,
                   log_ident, log_pid ? log_pid : (long)getpid(), tag[level]);
    n = len < 0 ? 0 : (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1;
    len = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    n += len < 0 ? 0 : (size_t)len < sizeof(line) - n ? (size_t)len : sizeof(line) - n - 1;
    line[n++] = '\n';
    if (log_hook == NULL || level == LOG_LEVEL_ERR) {
        log_flush();
        log_write(line, n);
        return;
    }
    if (log_len + n > sizeof(log_buf))
        log_flush();
    if (log_len == 0)
        log_hook(log_hook_arg);
    memcpy(log_buf + log_len, line, n);
    log_len += n;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
