/*
 * fuzz_replay.c - run a libFuzzer target over a seed corpus without
 * libFuzzer, so that every ordinary test run (any compiler, valgrind,
 * sanitizers) replays the corpus. Usage: fuzz_replay FILE|DIR...
 * Exits non-zero if an input cannot be read or nothing was replayed; a
 * broken invariant aborts inside the target.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Replay one file; 0, or -1 if it cannot be read. */
static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (fp == NULL) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    do {
        if (cap - len < 4096) {
            uint8_t *nb = realloc(buf, cap ? cap * 2 : 65536);
            if (nb == NULL) {
                fclose(fp);
                free(buf);
                return -1;
            }
            buf = nb;
            cap = cap ? cap * 2 : 65536;
        }
        n = fread(buf + len, 1, cap - len, fp);
        len += n;
    } while (n > 0);
    fclose(fp);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int replay_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay every regular file of a directory, in name order. */
static int replay_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    int rc = 0;

    if (d == NULL) {
        fprintf(stderr, "%s: cannot open\n", dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char **nn;
        if (e->d_name[0] == '.')
            continue;
        nn = realloc(names, (n + 1) * sizeof(*names));
        if (nn == NULL || (nn[n] = strdup(e->d_name)) == NULL) {
            rc = -1;
            names = nn ? nn : names;
            break;
        }
        names = nn;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), replay_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        if (rc == 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            rc = replay_file(path);
            (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        int rc;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = replay_dir(argv[i], &count);
        } else {
            rc = replay_file(argv[i]);
            count++;
        }
        if (rc < 0)
            return 1;
    }
    if (count == 0) {
        fprintf(stderr, "replayed no inputs, want a corpus\n");
        return 1;
    }
    printf("replayed %zu inputs\n", count);
    return 0;
}
