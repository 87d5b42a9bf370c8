/*
 * authd_pidmap.c - pid -> client address table (see authd_pidmap.h).
 *
 * Public: authd_pidmap_new, authd_pidmap_free, authd_pidmap_put,
 * authd_pidmap_take. Replacement: the same pid, else an expired way, else
 * the way that expires first.
 */
#include "authd_pidmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define PIDMAP_SETS 1024
#define PIDMAP_WAYS 4

struct authd_pidmap_entry {
    pid_t pid;
    uint64_t expire_ms;
    char addr[AUTHD_PIDMAP_ADDR_MAX];
};

struct authd_pidmap {
    struct authd_pidmap_entry e[PIDMAP_SETS * PIDMAP_WAYS];
};

struct authd_pidmap *authd_pidmap_new(void)
{
    return calloc(1, sizeof(struct authd_pidmap));
}

void authd_pidmap_free(struct authd_pidmap *m)
{
    free(m);
}

/* The ways of pid's set. */
static struct authd_pidmap_entry *authd_pidmap_set(struct authd_pidmap *m, pid_t pid)
{
    return &m->e[((unsigned)pid % PIDMAP_SETS) * PIDMAP_WAYS];
}

void authd_pidmap_put(struct authd_pidmap *m, pid_t pid, const char *addr, uint64_t now_ms,
                      uint64_t ttl_ms)
{
    struct authd_pidmap_entry *set = authd_pidmap_set(m, pid), *v = &set[0];

    for (int w = 0; w < PIDMAP_WAYS; w++) {
        if (set[w].pid == pid && set[w].expire_ms > now_ms) {
            v = &set[w];
            break;
        }
        if (set[w].expire_ms < v->expire_ms)
            v = &set[w];
    }
    v->pid = pid;
    v->expire_ms = now_ms + ttl_ms;
    util_strlcpy(v->addr, addr, sizeof(v->addr));
}

int authd_pidmap_take(struct authd_pidmap *m, pid_t pid, uint64_t now_ms, char *dst, size_t dstlen)
{
    struct authd_pidmap_entry *set = authd_pidmap_set(m, pid);

    if (dstlen)
        dst[0] = '\0';
    for (int w = 0; w < PIDMAP_WAYS; w++) {
        if (set[w].pid == pid && set[w].expire_ms > now_ms) {
            util_strlcpy(dst, set[w].addr, dstlen);
            memset(&set[w], 0, sizeof(set[w]));
            return 1;
        }
    }
    return 0;
}
