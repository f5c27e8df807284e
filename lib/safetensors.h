/* safetensors: the one reader (mmap, every header field validated before use) and the one
 * writer of the safetensors format, single files and sharded models (index.json), with the
 * F32 / F16 / BF16 conversions to and from fp32. Format reference: docs/convert-hf.md. */
#ifndef PICOTRON_SAFETENSORS_H
#define PICOTRON_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define ST_MAX_DIMS 8

typedef enum { ST_F32, ST_F16, ST_BF16 } StDtype;

/* "F32", "F16", "BF16"; bytes per element. */
const char *st_dtype_name(StDtype dt);
size_t st_dtype_size(StDtype dt);
/* From a name: "F32"/"F16"/"BF16" (the format) or "fp32"/"fp16"/"bf16" (our flags);
 * -1 when it is neither. */
int st_dtype_parse(const char *name, StDtype *dt);

/* Exact widenings and round-to-nearest-even narrowings (NaN stays NaN with its sign and the
 * top payload bits; overflow to fp16 gives ±inf, as a cast in PyTorch does). */
float st_bf16_to_f32(uint16_t h);
float st_f16_to_f32(uint16_t h);
uint16_t st_f32_to_bf16(float f);
uint16_t st_f32_to_f16(float f);

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;                    /* 0 … ST_MAX_DIMS */
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data;            /* into the mapping, numel · dtype size bytes, little-endian */
    size_t file_offset;          /* byte offset of data in the file */
} StTensor;

typedef struct {
    char path[4096];
    const unsigned char *map;
    size_t size;
    StTensor *t;                 /* (n) in header order */
    int n;
    char *metadata;              /* the __metadata__ object as compact JSON, or NULL */
} StFile;

/* Map path and validate the whole header: length against the file size, valid JSON object,
 * every tensor's known dtype, shape, data_offsets in range and consistent with shape × dtype
 * size, no two tensors overlapping, __metadata__ a string → string object. On failure f is
 * left closed and err names the file, the tensor and the byte offset of the first problem. */
int st_open(StFile *f, const char *path, Error *err);
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);

/* Convert t's n elements to fp32 into dst (exact for all three dtypes). */
void st_to_f32(const StTensor *t, float *dst);

/* A model directory: model.safetensors, or model.safetensors.index.json and the shards it
 * names (each shard checked as st_open does, every weight_map entry checked to exist in its
 * shard). */
typedef struct {
    StFile *files;
    int nfiles;
    char index_path[4096];       /* "" for a single file */
} StModel;

int st_model_open(StModel *m, const char *dir, Error *err);
void st_model_close(StModel *m);
/* The tensor called name in whichever shard holds it (NULL if none); *file set when not NULL. */
const StTensor *st_model_find(const StModel *m, const char *name, const StFile **file);

/* One tensor to write: fp32 values stored as dtype. */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data;           /* numel floats, row-major */
} StOut;

/* Write one safetensors file atomically (temp, fsync, rename) with the tensors in the given
 * order, all as dtype, and __metadata__ {"format": "pt"}. */
int st_write_file(const char *path, const StOut *t, int n, StDtype dtype, Error *err);

/* Write a model into dir: model.safetensors when everything fits max_shard_bytes, else
 * model-0000i-of-0000N.safetensors shards (tensors in order, a shard closed before it would
 * pass the limit; a tensor larger than the limit alone) and model.safetensors.index.json
 * ({"metadata": {"total_size"}, "weight_map"}). *nshards set when not NULL. */
int st_write_model(const char *dir, const StOut *t, int n, StDtype dtype, uint64_t max_shard_bytes,
                   int *nshards, Error *err);

#endif
