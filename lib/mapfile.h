/* mapfile: a whole file mapped read-only, for the readers that validate a format in place
 * (llm.c token shards, safetensors) and then read from the mapping without copying. */
#ifndef PICOTRON_MAPFILE_H
#define PICOTRON_MAPFILE_H

#include <stddef.h>

#include "error.h"

/* Map path, which must be a regular file: *map (NULL when the file is empty) and *len.
 * PT_EINPUT naming path when it cannot be opened or is not a regular file. */
int mapfile_open(const char *path, const unsigned char **map, size_t *len, Error *err);
void mapfile_close(const unsigned char *map, size_t len);

#endif
