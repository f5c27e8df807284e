/* dirwalk: matching directories below a root, in name order. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dirwalk.h"
#include "error.h"

#define DIRWALK_MAX_DEPTH 32

void dirwalk_append(char ***list, int *n, const char *s)
{
    if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4, …: grow to the next power of two */
        char **grown = xmalloc((size_t)(*n ? 2 * *n : 1) * sizeof *grown);
        if (*n)
            memcpy(grown, *list, (size_t)*n * sizeof *grown);
        free(*list);
        *list = grown;
    }
    size_t len = strlen(s) + 1;
    (*list)[*n] = xmalloc(len);
    memcpy((*list)[(*n)++], s, len);
}

static void walk(const char *dir, int depth, int (*matches)(const char *), char ***list, int *n)
{
    if (matches(dir)) {
        dirwalk_append(list, n, dir);
        return;
    }
    struct dirent **names;
    int k = depth < DIRWALK_MAX_DEPTH ? scandir(dir, &names, NULL, alphasort) : -1;
    for (int i = 0; i < k; i++) {
        char sub[PATH_MAX];
        struct stat st;
        const char *name = names[i]->d_name;
        size_t len = strlen(dir);
        int skip = name[0] == '.' ||
                   snprintf(sub, sizeof sub, "%s%s%s", dir,
                            len && dir[len - 1] == '/' ? "" : "/", name) >= (int)sizeof sub;
        if (!skip && lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) /* links not followed */
            walk(sub, depth + 1, matches, list, n);
        free(names[i]);
    }
    if (k >= 0)
        free(names);
}

void dirwalk_find(const char *root, int (*matches)(const char *dir), char ***list, int *n)
{
    walk(root, 0, matches, list, n);
}
