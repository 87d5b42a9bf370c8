/*
 * store_conf - the settings both daemons share for their counter store
 * (Redis, or the embedded store when redis_server is empty).
 *
 * Keys (documented in portreeve.conf(5)):
 *   redis_server          host:port, [v6addr]:port or unix:/path; empty = no Redis
 *   redis_username        ACL user (Redis 6+); empty = none
 *   redis_password_file   file whose first line is the password; empty = none
 *   redis_database        SELECT index
 *   redis_timeout         per-request deadline
 *   redis_connect_timeout connect deadline
 *   redis_sentinels       host:port list of Sentinels; overrides redis_server
 *   redis_master_name     the Sentinel master name
 *   redis_key_prefix      first component of every key
 */
#ifndef PORTREEVE_STORE_CONF_H
#define PORTREEVE_STORE_CONF_H

#include "conf.h"

struct store_conf {
    char *server;
    char *username;
    char *password_file;
    long long database;
    long long timeout_ms;
    long long connect_timeout_ms;
    char *sentinels;
    char *master_name;
    char *key_prefix;
};

extern const struct conf_entry store_conf_entries[];
extern const size_t store_conf_count;

/* A conf_section for the table above, writing into sc. */
struct conf_section store_conf_section(struct store_conf *sc);

#endif
