/* cfgreport: what a run config amounts to, for people and scripts: parameter count, global
 * batch, mesh and per-rank memory (create-config --check, as text or one JSON object), and the
 * table of model presets (--list-models). Numbers read as Python's {:,} writes them. */
#ifndef PICOTRON_CFGREPORT_H
#define PICOTRON_CFGREPORT_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "error.h"
#include "memplan.h"

/* 12345678 -> "12,345,678" in buf; returns buf. */
const char *cfgreport_thousands(int64_t x, char *buf, size_t n);

/* "<name>: ok", the model, batch, mesh and one memory line per pipeline stage. */
void cfgreport_text(FILE *f, const Config *cfg, const char *name, const MemPlan *plan);

/* The same as one JSON object (and a newline). */
int cfgreport_json(FILE *f, const Config *cfg, const char *name, const MemPlan *plan,
                   Error *err);

/* Every preset with its dimensions, parameter count and hub names. */
void cfgreport_models(FILE *f);

#endif
