/* preflight: every check picotron-train makes on its input before it builds a model, as calls
 * that need no MPI and allocate no model: the config's values, the data (each shard's header,
 * its token ids, the first step's and the validation set's samples) and the checkpoint it
 * starts from.
 * The trainer runs the pieces; picotron-submit runs preflight_check before sbatch. */
#ifndef PICOTRON_PREFLIGHT_H
#define PICOTRON_PREFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt.h"
#include "config.h"
#include "data.h"
#include "error.h"

/* With all, check every token id of ds (dataset.validate "all"); then read samples [0, n) of
 * ds. A token id >= vocab_size fails here, naming the shard and the offset, before anything is
 * written; under "lazy" a shard the first n samples do not reach is checked when first read. */
int preflight_samples(Dataset *ds, int64_t n, int all, Error *err);

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
