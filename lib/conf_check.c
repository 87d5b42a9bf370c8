/*
 * conf_check.c - shared value checks for key tables (see conf_check.h).
 */
#include "conf_check.h"

#include <stdio.h>

#include "log.h"
#include "netset.h"

int conf_check_netset(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    struct netset *s;

    (void)e;
    if (netset_parse(v, &s, err, errlen) < 0)
        return -1;
    netset_free(s);
    return 0;
}

int conf_check_facility(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    (void)e;
    if (log_facility(v) < 0) {
        snprintf(err, errlen, "unknown syslog facility");
        return -1;
    }
    return 0;
}
