/* ckpt: HDF5 checkpoints. A checkpoint is a directory step_NNNNNNNN/ holding one
 * metadata file and one HDF5 file per rank with that rank's pieces of every tensor (weights,
 * AdamW m and v); a piece is a flat range of a row-major block of the global tensor (a whole
 * tp-local block, or a ZeRO-1 shard's part of it). Replicated pieces are written once. Any
 * checkpoint loads under any mesh: each rank reads the ranges it needs from whichever files
 * hold them. Written to step_N.tmp/, fsynced, renamed; `latest` swapped by rename last.
 * Format reference: docs/checkpoint.md. */
#ifndef PICOTRON_CKPT_H
#define PICOTRON_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "comm.h"
#include "error.h"
#include "params.h"

#define CKPT_FORMAT_VERSION 1

typedef enum { CKPT_WEIGHTS, CKPT_ADAM_M, CKPT_ADAM_V, CKPT_KINDS } CkptKind;

/* What a run needs besides the tensors to go on exactly where it stopped. */
typedef struct {
    int format_version;
    int64_t step;              /* optimizer steps done */
    int64_t consumed_samples;  /* global samples read: step · global_batch */
    int64_t global_batch;      /* samples per step */
    int64_t tokens;            /* tokens trained on */
    int64_t adam_t;            /* AdamW's step count (bias correction) */
    uint64_t seed;             /* data order and init are pure functions of it */
    int dp, pp, cp, tp;        /* the mesh it was written from */
    int zero_stage;
    char config_json[65536];   /* the resolved config of the run (config_to_json) */
} CkptMeta;

/* meta.h5 stores each field of CkptMeta under one name: integers as scalar attributes, the
 * config as a string dataset. ckpt_meta_fields is that table, in CkptMeta's order; the writer,
 * the reader, picotron-shard-ckpt info and --verify walk it. */
typedef enum { CKPT_FIELD_INT, CKPT_FIELD_I64, CKPT_FIELD_U64, CKPT_FIELD_TEXT } CkptFieldType;
typedef enum {
    CKPT_ROLE_FORMAT,          /* format_version */
    CKPT_ROLE_RUN,             /* where the run stands: step ... seed */
    CKPT_ROLE_MESH,            /* the mesh it was written from */
    CKPT_ROLE_CONFIG,          /* the resolved config */
} CkptFieldRole;
typedef struct {
    const char *name;
    CkptFieldType type;
    size_t offset;             /* into CkptMeta */
    int64_t min, max;          /* a value the reader accepts (INT, I64); TEXT: stored bytes */
    CkptFieldRole role;
} CkptField;
extern const CkptField ckpt_meta_fields[];
extern const int ckpt_meta_nfields;

/* Integer field f of m: INT and I64 as int64 bits, U64 as itself. */
uint64_t ckpt_meta_get(const CkptMeta *m, const CkptField *f);

/* Where this rank sits and which part of the optimizer state it holds. */
typedef struct {
    int rank, world;
    int dp_rank, pp_rank, cp_rank, tp_rank;
    int dp, pp, cp, tp;
    int zero_stage;
    size_t opt_lo, opt_hi;     /* AdamW m, v cover flat elements [opt_lo, opt_hi) */
} CkptView;

/* Collective over `all` (size view->world): write this rank's pieces of params (pt->numel
 * floats) and of adam_m/adam_v ((opt_hi − opt_lo) floats each) into save_dir/step_NNNNNNNN/,
 * commit atomically, point save_dir/latest at it, and delete the oldest step directories
 * beyond keep_last (0: keep all). The error is agreed by all ranks. */
int ckpt_save(const char *save_dir, const CkptMeta *meta, const ParamTable *pt,
              const CkptView *view, const float *params, const float *adam_m,
              const float *adam_v, const Comm *all, int keep_last, Error *err);

/* Read the metadata of the checkpoint directory dir (a step_NNNNNNNN directory). */
int ckpt_read_meta(const char *dir, CkptMeta *meta, Error *err);

/* Fill this rank's params (and adam_m / adam_v when not NULL) from checkpoint dir, whatever
 * mesh wrote it. Checks the format version and that every tensor's global shape matches pt
 * (error names the tensor and both shapes); vocab padding rows are set to zero. Reads only
 * what this rank needs. */
int ckpt_load(const char *dir, const ParamTable *pt, const CkptView *view, float *params,
              float *adam_m, float *adam_v, Error *err);

/* The names inside a save_dir and a checkpoint, built nowhere else: dir/rank_NNNNN.h5,
 * dir/meta.h5, save_dir/latest and save_dir/step_NNNNNNNN<suffix> (suffix "", CKPT_TMP or
 * CKPT_ASIDE). */
#define CKPT_TMP ".tmp"        /* a directory being written */
#define CKPT_ASIDE ".old"      /* a directory being replaced, until its successor is in place */
void ckpt_rank_path(const char *dir, int rank, char *out, size_t len);
void ckpt_meta_path(const char *dir, char *out, size_t len);
void ckpt_latest_path(const char *save_dir, char *out, size_t len);
void ckpt_step_path(const char *save_dir, long long step, const char *suffix, char *out,
                    size_t len);
/* dir<suffix>: a checkpoint directory's temp (CKPT_TMP) or aside (CKPT_ASIDE) sibling. */
void ckpt_sibling_path(const char *dir, const char *suffix, char *out, size_t len);

/* A checkpoint directory from what a user names: a step directory as it is, or a save_dir
 * (one holding `latest`) resolved to the checkpoint `latest` names. Every reader below
 * (ckpt_read_meta, ckpt_load, ckpt_index_open) resolves its dir this way. */
int ckpt_resolve(const char *path, char *out, size_t len, Error *err);

/* save_dir/latest resolved to the checkpoint directory it names: PT_OK and out filled, or
 * PT_EINPUT when there is none (a fresh run). */
int ckpt_latest(const char *save_dir, char *out, size_t len, Error *err);

/* ---- the pieces of the format, for picotron-shard-ckpt and the tests ---- */

/* One stored piece: the flat range [flat_lo, flat_hi) of the row-major block
 * (block_offset, block_shape) of tensor pt->t[tensor], in global coordinates. */
typedef struct {
    int tensor;                /* index into pt->t */
    CkptKind kind;
    int64_t block_offset[2];   /* global row, col of the block's first element */
    int64_t block_shape[2];    /* rows (padding clipped away), cols */
    int64_t flat_lo, flat_hi;  /* within the block, row-major */
    size_t src;                /* first element in this rank's buffer: params for weights,
                                  adam_m / adam_v (which start at opt_lo) for the states */
} CkptPiece;

/* Dataset group of a kind: "weights", "adam_m", "adam_v". */
const char *ckpt_kind_name(CkptKind kind);

/* The pieces rank `view` writes, a pure function of (pt, view): *out malloc'ed (free it),
 * returns their number (0: this rank writes no file). */
int ckpt_pieces(const ParamTable *pt, const CkptView *view, CkptPiece **out);

/* The part of tensor p's stored (non-padding) elements in this rank's optimizer range
 * [view->opt_lo, view->opt_hi), in flat-buffer coordinates: 1 and [*lo, *hi), or 0 when
 * the range holds none of them. */
int ckpt_state_span(const ParamInfo *p, const CkptView *view, size_t *lo, size_t *hi);

/* A rank file being written: create, add pieces, close (H5Fclose, then fsync). */
typedef struct CkptWriter CkptWriter;
int ckpt_writer_open(const char *path, CkptWriter **w, Error *err);
int ckpt_writer_put(CkptWriter *w, const ParamInfo *p, const CkptPiece *pc, const float *data,
                    Error *err);
int ckpt_writer_close(CkptWriter *w, Error *err);

/* The save protocol in its three steps (ckpt_save runs them collectively):
 * begin (one process): create save_dir/step_N.tmp/ (removing a stale one), *tmpdir filled;
 * write_rank (each rank): write dir/rank_%05d.h5 with this rank's pieces, *wrote = 0 when the
 *   rank has nothing to store;
 * commit (one process): write meta.h5 listing the rank files (ranks[0..nranks)), fsync,
 *   rename step_N.tmp → step_N, swap `latest`, prune beyond keep_last (0: keep all). */
int ckpt_begin(const char *save_dir, int64_t step, char *tmpdir, size_t len, Error *err);
int ckpt_write_rank(const char *dir, const ParamTable *pt, const CkptView *view,
                    const float *params, const float *adam_m, const float *adam_v, int *wrote,
                    Error *err);
int ckpt_commit(const char *save_dir, const CkptMeta *meta, const int *ranks, int nranks,
                int keep_last, Error *err);

/* meta.h5 into dir (fsynced), with the list of rank files. */
int ckpt_write_meta(const char *dir, const CkptMeta *meta, const int *ranks, int nranks,
                    Error *err);

/* meta.h5 of the checkpoint directory dir as it is (not resolved); with ranks not NULL, also
 * its list of rank files (*ranks malloc'ed, *nranks of them). */
int ckpt_meta_read_file(const char *dir, CkptMeta *meta, int **ranks, int *nranks, Error *err);

/* Put the finished directory tmp in place as dir: tmp's entries synced, an existing dir moved
 * to dir.old (CKPT_ASIDE) until tmp is renamed over it, the parent synced, dir.old removed. */
int ckpt_dir_install(const char *tmp, const char *dir, Error *err);

/* Every piece of every rank file of a checkpoint, from their attributes only. */
typedef struct CkptIndex CkptIndex;
int ckpt_index_open(const char *dir, CkptIndex **idx, Error *err);
void ckpt_index_close(CkptIndex *idx);
const CkptMeta *ckpt_index_meta(const CkptIndex *idx);

/* The tensors stored for a kind, in first-seen order: count, then name and global shape of
 * the i-th. */
int ckpt_index_count(const CkptIndex *idx, CkptKind kind);
const char *ckpt_index_tensor(const CkptIndex *idx, CkptKind kind, int i, int64_t shape[2]);

/* Fill dst with elements [flat_lo, flat_hi) of the row-major block (off, shape) of tensor
 * `name` (global shape gshape, checked against the stored one) from whichever pieces hold them;
 * rows at or past gshape[0] (vocab padding) become 0. Error when an element is not stored. */
int ckpt_index_read(CkptIndex *idx, CkptKind kind, const char *name, const int64_t gshape[2],
                    const int64_t off[2], const int64_t shape[2], int64_t flat_lo,
                    int64_t flat_hi, float *dst, Error *err);

/* The stored pieces (datasets, one per tensor per rank file holding part of it) of a kind:
 * count, the tensor name of piece i, then read piece i whole, in slabs, so that HDF5 checks
 * the checksum of every chunk. PT_OK, with *checksummed 0 for a piece written without
 * checksums (before they were added); else PT_EINPUT naming the rank file and the tensor. */
int ckpt_index_npieces(const CkptIndex *idx, CkptKind kind);
const char *ckpt_index_piece_name(const CkptIndex *idx, CkptKind kind, int i);
int ckpt_index_check_piece(CkptIndex *idx, CkptKind kind, int i, int *checksummed, Error *err);

/* rm -r of a checkpoint directory (for pruning and --force). */
int ckpt_remove_dir(const char *dir, Error *err);

/* Bytes a checkpoint of a model of n_params parameters in n_tensors tensors takes on disk, all
 * rank files and meta.h5 together, at least: fp32 weights, AdamW m and v (each stored once
 * whatever the mesh), and the HDF5 structure around each (measured on one process: 2.5 KiB a
 * dataset with its chunk index and attributes, 5 KiB of meta.h5; a mesh that splits tensors
 * into more pieces adds a little). */
double ckpt_bytes(int64_t n_params, int n_tensors);

/* Refuse to start a run that could not save even one checkpoint: the file system of save_dir
 * has fewer than `need` bytes free for an unprivileged user (statvfs f_bavail). PT_ERUNTIME
 * naming the key, the directory, what is free and what is needed. */
int ckpt_check_free_space(const char *save_dir, double need, Error *err);

#endif
