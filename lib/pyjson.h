/* pyjson: JSON text as Python's json.dump(obj, f, indent=N) writes it (picotron's
 * create_config.py writes its configs so): N-space indent, "," and ": " separators, keys in
 * insertion order, no trailing newline; ensure_ascii escapes (lower-case \u00fc, surrogate
 * pairs, DEL as \u007f); reals as repr() writes them (0.0003, 1e-05, 1e+16, 100.0). */
#ifndef PICOTRON_PYJSON_H
#define PICOTRON_PYJSON_H

#include <jansson.h>

/* The text (malloc'ed), or NULL when out of memory. */
char *pyjson_dump(const json_t *root, int indent);

#endif
