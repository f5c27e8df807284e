/* preflight: every check picotron-train makes on its input before it builds a model, as calls
 * that need no MPI and allocate no model: the config's values, the data (each shard's header,
 * the tokens of the first step and of the validation set) and the checkpoint it starts from.
 * The trainer runs the pieces; picotron-submit runs preflight_check before sbatch. */
#ifndef PICOTRON_PREFLIGHT_H
#define PICOTRON_PREFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt.h"
#include "config.h"
#include "data.h"
#include "error.h"

/* Read samples [0, n) of ds: a token id >= vocab_size fails here, naming the shard and the
 * offset, before anything is written. Later samples are checked as they are read. */
int preflight_samples(Dataset *ds, int64_t n, Error *err);

/* The checkpoint a run of cfg starts from and its metadata: checkpoint.load_path (a step
 * directory, or a save_dir with a `latest`), else checkpoint.init_from (weights only: sets
 * *weights_only), else save_dir/latest under resume "auto" when there is one. A checkpoint that
 * is resumed must have been written with cfg's global batch unless
 * checkpoint.allow_batch_change. PT_OK with dir[0] == 0 for a fresh start; errors name the key. */
int preflight_checkpoint(const Config *cfg, char *dir, size_t len, int *weights_only,
                         CkptMeta *meta, Error *err);

/* All of it for cfg, in the trainer's order: config_validate, the training data (and the
 * validation data) opened and their first samples read, the checkpoint source. PT_OK, or the
 * error picotron-train would stop with. */
int preflight_check(const Config *cfg, Error *err);

#endif
