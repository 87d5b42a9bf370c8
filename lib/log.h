/*
 * log - daemon logging: syslog, or stderr in the foreground (-f).
 *
 * One line per call, no trailing newline needed. Callers escape untrusted
 * text with util_escape() first. Not for the SASL plugin (it logs through
 * the SASL utils).
 */
#ifndef PORTREEVE_LOG_H
#define PORTREEVE_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* ident such as "portreeve/policyd"; facility a syslog name ("mail"). */
int log_open(const char *ident, int to_stderr, const char *facility);
void log_set_debug(int on);
int log_debug_enabled(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/*
 * Buffered stderr output for a busy daemon in the foreground: lines are
 * kept (up to 64 KiB) and written together by log_flush(). hook(arg) is
 * called when the buffer goes from empty to non-empty, so the event loop can
 * schedule a flush after the events it is handling; errors are written at
 * once. No effect when logging to syslog. Pass NULL to switch it off.
 */
void log_set_buffered(void (*hook)(void *), void *arg);
void log_flush(void);

/* Map a syslog facility name; returns -1 if unknown. */
int log_facility(const char *name);

#define log_err(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_debug_enabled())                                                                   \
            log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);                                                 \
    } while (0)

#endif
