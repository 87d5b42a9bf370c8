/*
 * quota_redis_script.c - the quota Lua script's text, compiled in from
 * policyd/quota.lua.
 *
 * Public: quota_redis_script (quota_redis.h), a NUL-terminated string.
 *
 * Contract: the bytes are exactly those of quota.lua (the build turns the
 * file into quota_lua.h with quota_lua.cmake, and rebuilds when it
 * changes), so what SCRIPT LOAD and the NOSCRIPT -> EVAL fallback send,
 * and the SHA1 that Redis answers for EVALSHA, come from the same text;
 * nothing here computes or stores a SHA1. The script's caps on
 * reservations and series must equal the embedded limiter's: checked at
 * compile time.
 */
#include "quota_redis.h"

#include "limiter.h"
#include "quota_lua.h" /* generated in the build directory */

_Static_assert(QUOTA_LUA_MAX_PENDING == LIMITER_MAX_PENDING,
               "quota.lua: MAX_PENDING differs from LIMITER_MAX_PENDING (lib/limiter.h)");
_Static_assert(QUOTA_LUA_MAX_SERIES == LIMITER_MAX_SERIES,
               "quota.lua: MAX_SERIES differs from LIMITER_MAX_SERIES (lib/limiter.h)");

const char quota_redis_script[] = QUOTA_LUA_TEXT;
