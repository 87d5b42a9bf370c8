/*
 * conf - portreeve.conf reader: Postfix main.cf syntax into typed settings.
 *
 * The file holds "name = value" lines, "#" comment lines, blank lines, and
 * continuation lines (a line that starts with white space continues the
 * previous one, as in main.cf). There is no $name expansion. Both daemons
 * read the same file: each passes the sections it owns plus the name
 * prefixes that belong to the other daemon, which it skips. Any other name
 * is an error that names the key, the file and the line.
 *
 * A section is a table of entries (name, type, default, range, offset into
 * a target struct). Strings are heap copies owned by the target; release
 * them with conf_section_free(). Library-safe: returns errors, never exits
 * or logs.
 */
#ifndef PORTREEVE_CONF_H
#define PORTREEVE_CONF_H

#include <stddef.h>
#include <stdio.h>

#define CONF_ERR_LEN 512
#define CONF_LINE_MAX 65536 /* one logical line, continuations joined */

enum conf_type {
    CONF_STR,  /* char *, may be empty */
    CONF_INT,  /* long long, decimal, within [min, max] */
    CONF_BOOL, /* int: yes/no/true/false/1/0/on/off */
    CONF_TIME, /* long long milliseconds; "250ms", "3s", "5m", "2h", "1d"; bare = seconds */
    CONF_MODE, /* unsigned int, octal file mode 0..07777 */
};

struct conf_entry;
/* Optional semantic check of a value; returns 0 or -1 with a reason in err. */
typedef int (*conf_check_fn)(const struct conf_entry *e, const char *value, char *err,
                             size_t errlen);

struct conf_entry {
    const char *name;
    enum conf_type type;
    const char *def; /* default, as it would be written in the file */
    long long min;   /* CONF_INT / CONF_TIME (ms): inclusive range */
    long long max;
    size_t offset; /* where the value lives in the section's target */
    conf_check_fn check;
    const char *doc; /* one line, for -d and the sample file */
};

struct conf_section {
    const struct conf_entry *entries;
    size_t count;
    void *target;
};

/* One name = value pair as read from the file. */
struct conf_kv {
    char *name;
    char *value;
    unsigned line;
};

struct conf_file {
    struct conf_kv *kv;
    size_t count;
    char *path;
};

/* Read and split a file. Returns 0, or -1 with "path:line: reason" in err. */
int conf_file_read(const char *path, struct conf_file *out, char *err, size_t errlen);
/* Parse a file image held in memory (used by tests and conf_file_read). */
int conf_file_parse(const char *name, const char *text, size_t len, struct conf_file *out,
                    char *err, size_t errlen);
void conf_file_free(struct conf_file *f);

/*
 * Apply defaults then the file's values to every section. Names that start
 * with one of the NULL-terminated foreign prefixes are skipped. A file may be
 * NULL (defaults only). Returns 0, or -1 with a message naming key and value.
 * On error the targets hold partial values: free them and discard.
 */
int conf_apply(const struct conf_file *f, const struct conf_section *sections, size_t nsections,
               const char *const *foreign_prefixes, char *err, size_t errlen);
void conf_section_free(const struct conf_section *s);

/* A time as CONF_TIME takes it ("250ms", "3s", "5m", "2h", "1d", "1w"; a bare
 * number is seconds) into milliseconds. Returns 0, or -1 if malformed. */
int conf_parse_time(const char *v, long long *ms);

/* Convert one value by type; used by conf_apply and by tests. */
int conf_parse_value(const struct conf_entry *e, const char *value, void *slot, char *err,
                     size_t errlen);

/* -d: print every entry as "name = default". */
void conf_print_defaults(FILE *fp, const struct conf_section *sections, size_t nsections);
/* -n: print the file's settings whose value differs from the default. */
void conf_print_nondefault(FILE *fp, const struct conf_file *f, const struct conf_section *sections,
                           size_t nsections);

/* Value of a named setting in a file, or NULL. */
const char *conf_file_get(const struct conf_file *f, const char *name);

#endif
