/* utf8: decoding UTF-8 and repairing text that is not UTF-8. Invalid bytes become U+FFFD one
 * "maximal subpart" at a time (Unicode's recommended practice, what Python's
 * decode("utf-8", errors="replace") does), so tokenizers see the text Python's would. */
#ifndef PICOTRON_UTF8_H
#define PICOTRON_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at s[0..n) (1-4), or 0 when none starts there; when 0,
 * *bad is the length of the maximal subpart to replace by one U+FFFD (1-3). */
size_t utf8_valid_len(const unsigned char *s, size_t n, size_t *bad);

/* Length in bytes of the first encoded code point of valid UTF-8 s (1-4), from its lead byte. */
static inline size_t utf8_char_len(unsigned char lead)
{
    return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/* Code point of the valid UTF-8 sequence at s (length utf8_char_len(s[0])). */
int32_t utf8_decode(const unsigned char *s);

/* Encode cp (< 0x110000) into out (4 bytes of room); returns the length. */
size_t utf8_encode(int32_t cp, char *out);

/* 1 when all of s[0..n) is valid UTF-8. */
int utf8_is_valid(const char *s, size_t n);

/* s[0..n) with every invalid subpart replaced by U+FFFD, into out (3n bytes of room);
 * returns the repaired length. */
size_t utf8_repair(const char *s, size_t n, char *out);

#endif
