/* pyjson: a jansson value written as Python's json.dump(obj, f, indent=N) writes it: its
 * escapes (ensure_ascii), its separators and layout, and repr() of every float. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjson.h"

/* The next code point of valid UTF-8 (jansson only holds valid UTF-8); *s moves past it. */
static unsigned long utf8_next(const unsigned char **s)
{
    const unsigned char *p = *s;
    unsigned long c = p[0];
    int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    if (extra)
        c &= 0x3Fu >> extra;
    for (int i = 1; i <= extra; i++)
        c = (c << 6) | (p[i] & 0x3Fu);
    *s = p + 1 + extra;
    return c;
}

/* json's ensure_ascii: printable ASCII as is, the short escapes, everything else (DEL and
 * beyond included) as lower-case \uXXXX, above U+FFFF as a surrogate pair. */
static void dump_string(FILE *out, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    fputc('"', out);
    while (s < end) {
        unsigned long c = utf8_next(&s);
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (c >= 0x20 && c < 0x7F) {
                fputc((int)c, out);
            } else if (c > 0xFFFF) {
                c -= 0x10000;
                fprintf(out, "\\u%04lx\\u%04lx", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF));
            } else {
                fprintf(out, "\\u%04lx", c);
            }
        }
    }
    fputc('"', out);
}

/* repr(float): the fewest significant digits that read back exactly; positional notation for
 * decimal exponents -4..15 (with at least ".0"), otherwise d.ddde±XX. */
static void dump_real(FILE *out, double x)
{
    char sci[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(sci, sizeof sci, "%.*e", p - 1, x);
        if (strtod(sci, NULL) == x)
            break;
    }
    /* sci is [-]d[.ddd]e±XX: split it into sign, digits and exponent */
    const char *s = sci;
    if (*s == '-')
        fputc(*s++, out);
    char digits[20];
    int nd = 0;
    for (; *s != 'e'; s++)
        if (*s != '.')
            digits[nd++] = *s;
    int exp = atoi(s + 1);
    if (exp < -4 || exp >= 16) {
        fprintf(out, "%c", digits[0]);
        if (nd > 1)
            fprintf(out, ".%.*s", nd - 1, digits + 1);
        fprintf(out, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    } else if (exp < 0) {
        fputs("0.", out);
        for (int i = 1; i < -exp; i++)
            fputc('0', out);
        fprintf(out, "%.*s", nd, digits);
    } else {
        for (int i = 0; i <= exp; i++)
            fputc(i < nd ? digits[i] : '0', out);
        fputc('.', out);
        if (nd > exp + 1)
            fprintf(out, "%.*s", nd - exp - 1, digits + exp + 1);
        else
            fputc('0', out);
    }
}

static void newline(FILE *out, int indent, int depth)
{
    fprintf(out, "\n%*s", indent * depth, "");
}

static void dump_value(FILE *out, const json_t *v, int indent, int depth)
{
    json_t *obj = (json_t *)v; /* jansson's iteration macros take non-const */
    const char *key;
    json_t *x;
    size_t i, n = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (!json_object_size(v)) {
            fputs("{}", out);
            return;
        }
        fputc('{', out);
        json_object_foreach(obj, key, x) {
            fputs(n++ ? "," : "", out);
            newline(out, indent, depth + 1);
            dump_string(out, key, strlen(key));
            fputs(": ", out);
            dump_value(out, x, indent, depth + 1);
        }
        newline(out, indent, depth);
        fputc('}', out);
        return;
    case JSON_ARRAY:
        if (!json_array_size(v)) {
            fputs("[]", out);
            return;
        }
        fputc('[', out);
        json_array_foreach(obj, i, x) {
            fputs(i ? "," : "", out);
            newline(out, indent, depth + 1);
            dump_value(out, x, indent, depth + 1);
        }
        newline(out, indent, depth);
        fputc(']', out);
        return;
    case JSON_STRING: dump_string(out, json_string_value(v), json_string_length(v)); return;
    case JSON_INTEGER: fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return;
    case JSON_REAL: dump_real(out, json_real_value(v)); return;
    case JSON_TRUE: fputs("true", out); return;
    case JSON_FALSE: fputs("false", out); return;
    case JSON_NULL: fputs("null", out); return;
    }
}

char *pyjson_dump(const json_t *root, int indent)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    dump_value(out, root, indent, 0);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
