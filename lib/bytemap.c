/* bytemap: the table is computed, not listed: printable bytes keep their value, the 68 others
 * take 256, 257, ... in byte order. */
#include "bytemap.h"

static int printable(int b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

int32_t bytemap_char(unsigned char b)
{
    if (printable(b))
        return b;
    int32_t k = 0;
    for (int c = 0; c < b; c++)
        k += !printable(c);
    return 256 + k;
}

int bytemap_byte(int32_t cp)
{
    if (cp >= 0 && cp < 256 && printable(cp))
        return cp;
    if (cp < 256 || cp >= 256 + 68)
        return -1;
    int32_t k = cp - 256;
    for (int c = 0; c < 256; c++)
        if (!printable(c) && k-- == 0)
            return c;
    return -1;
}
