/* sweep: the grid of picotron-bench --sweep: the spec ("dp=1,2 tp=1,2 mbs=1,2,4", short names
 * or full key paths), its cartesian product in order, each point's config (refusals as
 * errors), its memory per rank against a limit, and the point written back as a config file. */
#ifndef PICOTRON_SWEEP_H
#define PICOTRON_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

#define SWEEP_MAX_POINTS 4096

typedef struct {
    char *name;      /* as written: "dp" or "training.seq_length" */
    char *key;       /* the full key path: "distributed.dp_size" */
    char **values;   /* [nvalues] as written: "1", "2" */
    int nvalues;
} SweepAxis;

typedef struct {
    SweepAxis *axis; /* [naxes], in the order of the spec */
    int naxes;
    int npoints;     /* product of the axes' nvalues */
} Sweep;

/* Parse spec: items separated by blanks, each NAME=V1,V2,... . NAME is a short name (dp tp pp
 * cp zero mbs grad_acc seq pp_engine threads) or a key path of the config schema (base is asked
 * whether the key exists). PT_EINPUT naming the item on a malformed item, an unknown or
 * repeated key, or more than SWEEP_MAX_POINTS points. */
int sweep_parse(Sweep *s, const char *spec, const Config *base, Error *err);
void sweep_free(Sweep *s);

/* The full key path of a short name, or NULL. */
const char *sweep_short_key(const char *name);

/* Which value of axis a point p takes: the first axis varies slowest, the last fastest. */
int sweep_value_index(const Sweep *s, int p, int a);
const char *sweep_value(const Sweep *s, int p, int a);

/* "dp=1 mbs=2": the point's values as the spec names them. */
void sweep_point_label(const Sweep *s, int p, char *out, size_t len);

/* cfg = base with point p's values set (as --set sets them). With keep_global_batch > 0,
 * training.gradient_accumulation_steps is then chosen so that dp·mbs·grad_acc equals it.
 * Validated: an error is the config's refusal of the point (a whole, one-line reason). */
int sweep_point_config(const Sweep *s, int p, const Config *base, int64_t keep_global_batch,
                       Config *cfg, Error *err);

/* Bytes one rank of cfg allocates: memplan's largest pipeline stage. */
double sweep_rank_bytes(const Config *cfg);

/* MemAvailable of /proc/meminfo, in bytes. PT_ERUNTIME when it cannot be read. */
int sweep_mem_available(uint64_t *bytes, Error *err);

/* Write input_text (the JSON config the sweep started from) to path with each of keys set to
 * its value in cfg (sections created where missing), in the layout Python's json.dump writes,
 * atomically. */
int sweep_write_config(const char *path, const char *input_text, const char *const *keys,
                       int nkeys, const Config *cfg, Error *err);

#endif
