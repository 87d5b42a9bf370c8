/*
 * util.c - library-safe helpers (see util.h).
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

char *util_strdup(const char *s)
{
    return util_strndup(s, strlen(s));
}

char *util_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void *util_reallocarray(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    size_t bytes = n * size;

    return realloc(p, bytes ? bytes : 1);
}

size_t util_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t len = strlen(src);

    if (dstlen) {
        size_t n = len < dstlen - 1 ? len : dstlen - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

char *util_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i;

    if (dstlen == 0)
        return dst;
    for (i = 0; i < srclen; i++) {
        unsigned char c = (unsigned char)src[i];
        size_t need = (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') ? 1 : 4;
        if (o + need + 1 > dstlen)
            break;
        if (need == 1) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    if (i < srclen && dstlen >= 4) {
        while (o + 4 > dstlen)
            o--;
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

const char *util_list_next(const char **cursor, size_t *len)
{
    const char *p = *cursor, *start;

    while (*p && (isspace((unsigned char)*p) || *p == ','))
        p++;
    if (*p == '\0') {
        *cursor = p;
        return NULL;
    }
    start = p;
    while (*p && !isspace((unsigned char)*p) && *p != ',')
        p++;
    *len = (size_t)(p - start);
    *cursor = p;
    return start;
}

uint64_t util_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t util_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int util_strncaseeq(const char *a, size_t alen, const char *b)
{
    return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

char *util_read_file(const char *path, size_t max, size_t *lenp)
{
    FILE *fp = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int saved;

    if (fp == NULL)
        return NULL;
    errno = 0;
    for (;;) {
        size_t got;
        if (len == cap) {
            /* Room for max + 1 bytes: one byte over says it is too large. */
            size_t ncap = cap ? cap * 2 : 4096;
            char *nb;
            if (cap > max) {
                errno = EFBIG;
                goto fail;
            }
            if (ncap > max + 1)
                ncap = max + 1;
            nb = realloc(buf, ncap + 1);
            if (nb == NULL) {
                errno = ENOMEM;
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        if (errno == 0)
            errno = EIO;
        goto fail;
    }
    fclose(fp);
    buf[len] = '\0';
    *lenp = len;
    return buf;
fail:
    saved = errno;
    free(buf);
    fclose(fp);
    errno = saved;
    return NULL;
}
