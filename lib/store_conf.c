/*
 * store_conf.c - the shared Redis settings table (see store_conf.h).
 */
#include "store_conf.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Keys are Redis key components: keep them to a safe character set. */
static int store_conf_check_prefix(const struct conf_entry *e, const char *v, char *err,
                                   size_t errlen)
{
    (void)e;
    if (v[0] == '\0' || strlen(v) > 32 ||
        strspn(v, "abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != strlen(v)) {
        snprintf(err, errlen, "want 1-32 characters from A-Z a-z 0-9 _ - .");
        return -1;
    }
    return 0;
}

#define SC(f) offsetof(struct store_conf, f)
const struct conf_entry store_conf_entries[] = {
    {"redis_server", CONF_STR, "", 0, 0, SC(server), NULL,
     "Redis address: host:port, [ipv6]:port or unix:/path; empty = embedded store only"},
    {"redis_username", CONF_STR, "", 0, 0, SC(username), NULL, "Redis ACL user name"},
    {"redis_password_file", CONF_STR, "", 0, 0, SC(password_file), NULL,
     "file holding the Redis password on its first line"},
    {"redis_database", CONF_INT, "0", 0, 1000000, SC(database), NULL, "Redis database index"},
    {"redis_timeout", CONF_TIME, "100ms", 1, 60000, SC(timeout_ms), NULL,
     "deadline of one Redis request"},
    {"redis_connect_timeout", CONF_TIME, "200ms", 1, 60000, SC(connect_timeout_ms), NULL,
     "deadline of a Redis connect"},
    {"redis_sentinels", CONF_STR, "", 0, 0, SC(sentinels), NULL,
     "Sentinel host:port list; when set, the master comes from Sentinel"},
    {"redis_master_name", CONF_STR, "mymaster", 0, 0, SC(master_name), NULL,
     "master name known to the Sentinels"},
    {"redis_key_prefix", CONF_STR, "pp", 0, 0, SC(key_prefix), store_conf_check_prefix,
     "first component of every Redis key"},
};
#undef SC
const size_t store_conf_count = sizeof(store_conf_entries) / sizeof(store_conf_entries[0]);

struct conf_section store_conf_section(struct store_conf *sc)
{
    struct conf_section s = {store_conf_entries, store_conf_count, sc};
    return s;
}
