/*
 * log.c - syslog or stderr logging for the daemons (see log.h).
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_to_stderr = 1;
static int log_debug_on;
static char log_ident[64] = "portreeve";

static const struct {
    const char *name;
    int value;
} log_facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"auth", LOG_AUTH},
    {"authpriv", LOG_AUTHPRIV}, {"user", LOG_USER}, {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
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

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    static const char *const tag[] = {"error: ", "warning: ", "", ""};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    char line[4096];

    vsnprintf(line, sizeof(line), fmt, ap);
    if (log_to_stderr) {
        struct timespec ts;
        struct tm tm;
        char when[32];

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ld %s[%ld]: %s%s\n", when, ts.tv_nsec / 1000000L, log_ident,
                (long)getpid(), tag[level], line);
    } else {
        syslog(prio[level], "%s%s", tag[level], line);
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
