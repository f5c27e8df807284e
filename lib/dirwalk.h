/* dirwalk: the directories below a root that match a rule (a run directory: one holding
 * config.json for submit, metrics.jsonl for the metrics tools), found one way for every tool:
 * name order, hidden directories and symbolic links skipped, no search inside a match, at
 * most 32 levels deep. */
#ifndef PICOTRON_DIRWALK_H
#define PICOTRON_DIRWALK_H

/* Append to *list (*n entries, malloc'ed strings; *list grows with malloc) root itself when it
 * matches, else every matching directory below it, in name order. */
void dirwalk_find(const char *root, int (*matches)(const char *dir), char ***list, int *n);

/* Append a copy of s to *list. */
void dirwalk_append(char ***list, int *n, const char *s);

#endif
