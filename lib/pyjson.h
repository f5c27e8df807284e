/* pyjson: JSON text as Python's json.dump(obj, f, indent=N) writes it (picotron's
 * create_config.py writes its configs so): N-space indent, ", " and ": " separators, ASCII
 * escapes, keys in insertion order, no trailing newline, reals with the fewest of 15..17
 * significant digits that read back exactly (3e-4 is written 0.0003, as Python writes it). */
#ifndef PICOTRON_PYJSON_H
#define PICOTRON_PYJSON_H

#include <jansson.h>

/* The text (malloc'ed), or NULL when out of memory. */
char *pyjson_dump(const json_t *root, int indent);

#endif
