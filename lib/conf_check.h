/*
 * conf_check - value checks (conf_check_fn) that several key tables share.
 * Each returns 0, or -1 with the reason in err.
 */
#ifndef PORTREEVE_CONF_CHECK_H
#define PORTREEVE_CONF_CHECK_H

#include "conf.h"

/* A CIDR list as netset_parse() takes it; empty is valid. */
int conf_check_netset(const struct conf_entry *e, const char *v, char *err, size_t errlen);
/* A syslog facility name (mail, daemon, local0...). */
int conf_check_facility(const struct conf_entry *e, const char *v, char *err, size_t errlen);

#endif
