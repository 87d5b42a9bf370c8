/*
 * fuzz_replay.c - run a libFuzzer target over files (a seed corpus) without
 * libFuzzer, so that the corpora are replayed as ordinary ctest tests with
 * any compiler. Usage: fuzz_replay FILE|DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one file; returns 0 or -1 if it cannot be read. */
static int replay_file(const char *path)
{
    static uint8_t buf[1 << 20];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

int main(int argc, char **argv)
{
    size_t count = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            char path[4096];
            while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.')
                    continue;
                snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
                if (replay_file(path) < 0)
                    return 1;
                count++;
            }
            if (d)
                closedir(d);
        } else {
            if (replay_file(argv[i]) < 0)
                return 1;
            count++;
        }
    }
    if (count == 0) {
        fprintf(stderr, "got no inputs, want a corpus\n");
        return 1;
    }
    printf("replayed %zu inputs\n", count);
    return 0;
}
