/*
 * authd_pidmap - which client address each smtpd process is serving, as
 * told by the gate plugin, so that the saslauthd request that follows from
 * the same process (same SO_PEERCRED pid) is counted against that address.
 *
 * 4-way set-associative table of 4096 entries: bounded whatever the peers
 * do; an entry lives for a TTL and is consumed by the first lookup. A lost
 * entry only means the request is counted per user, not per address.
 * Used from the event-loop thread only: no locking.
 */
#ifndef PORTREEVE_AUTHD_PIDMAP_H
#define PORTREEVE_AUTHD_PIDMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AUTHD_PIDMAP_ADDR_MAX 64

struct authd_pidmap;

struct authd_pidmap *authd_pidmap_new(void);
void authd_pidmap_free(struct authd_pidmap *m);
/* Remember addr for pid until now + ttl. */
void authd_pidmap_put(struct authd_pidmap *m, pid_t pid, const char *addr, uint64_t now_ms,
                      uint64_t ttl_ms);
/* Take the live address of pid into dst (1), or leave dst "" (0). */
int authd_pidmap_take(struct authd_pidmap *m, pid_t pid, uint64_t now_ms, char *dst, size_t dstlen);

#endif
