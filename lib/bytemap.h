/* bytemap: GPT-2's byte-level alphabet — each of the 256 byte values stands for one printable
 * code point (the printable Latin-1 bytes for themselves, the rest for U+0100 onwards), so a
 * byte-level BPE vocabulary is a set of ordinary strings. */
#ifndef PICOTRON_BYTEMAP_H
#define PICOTRON_BYTEMAP_H

#include <stdint.h>

/* The code point byte b stands for. */
int32_t bytemap_char(unsigned char b);

/* The byte code point cp stands for, or −1 when cp is not in the alphabet. */
int bytemap_byte(int32_t cp);

#endif
