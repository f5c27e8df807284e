/* jsonin: JSON that a user hands a tool as input (a run config, an HF config.json), parsed
 * strictly: a key given twice in one object is refused rather than letting the second
 * silently replace the first, and every refusal is one line naming the file, line and column. */
#ifndef PICOTRON_JSONIN_H
#define PICOTRON_JSONIN_H

#include <jansson.h>
#include <stdio.h>

#include "error.h"

/* Parse TEXT (read from NAME, used only in messages) into *out (a new reference).
 * PT_EINPUT "NAME:line:col: ..." on invalid JSON or a duplicate key. */
int jsonin_loads(const char *text, const char *name, json_t **out, Error *err);

/* The UTF-8 byte-order mark, skipped at the start of any JSON text. */
#define JSONIN_BOM "\xEF\xBB\xBF"

/* The same for the file at PATH; PT_EINPUT naming PATH once when it cannot be opened, is a
 * directory, or cannot be read. */
int jsonin_load_file(const char *path, json_t **out, Error *err);

/* The rest of stream F as a C string (malloc'ed); NULL when memory runs out. */
char *jsonin_read_all(FILE *f);

/* After F = fopen(PATH): PT_EINPUT "PATH: cannot open: REASON" when F is NULL, "PATH: is a
 * directory (give WANT)" when it opened a directory, else PT_OK. */
int jsonin_open_error(const char *path, FILE *f, const char *want, Error *err);

#endif
