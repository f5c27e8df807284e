/* test_pyjson: pyjson_dump writes what Python 3's json.dumps(obj, indent=4) writes, byte for
 * byte: the expected strings below are Python's own output (ensure_ascii escapes in lower
 * case, surrogate pairs, DEL escaped; floats as repr(); the indent-4 layout). */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "pyjson.h"

static void assert_dumps(json_t *v, const char *want)
{
    char *got = pyjson_dump(v, 4);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    free(got);
    json_decref(v);
}

START_TEST(strings_escape_as_ensure_ascii_does)
{
    /* json.dumps("q\"b\\n\nt\tr\r\x01\x1f\b\f é€😀\x7f~") */
    assert_dumps(json_string("q\"b\\n\nt\tr\r\x01\x1f\b\f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                             "\x7f~"),
                 "\"q\\\"b\\\\n\\nt\\tr\\r\\u0001\\u001f\\b\\f \\u00e9\\u20ac\\ud83d\\ude00"
                 "\\u007f~\"");
    /* json.dumps("\x00z"): a NUL inside the string is kept and escaped */
    assert_dumps(json_stringn("\0z", 2), "\"\\u0000z\"");
}
END_TEST

START_TEST(reals_are_written_as_repr_writes_them)
{
    static const struct { double x; const char *repr; } cases[] = {
        {0.0003, "0.0003"},         {1e-05, "1e-05"},
        {1e+16, "1e+16"},           {1e15, "1000000000000000.0"},
        {1.5e-07, "1.5e-07"},       {0.0, "0.0"},
        {-0.0, "-0.0"},             {100.0, "100.0"},
        {123456789.5, "123456789.5"}, {0.1, "0.1"},
        {1.0 / 3.0, "0.3333333333333333"}, {2.5e-300, "2.5e-300"},
        {1.7976931348623157e308, "1.7976931348623157e+308"}, {5e-324, "5e-324"},
        {-1e-4, "-0.0001"},         {123.456, "123.456"},
        {9999999999999998.0, "9999999999999998.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_real(cases[i].x);
        char *got = pyjson_dump(v, 4);
        json_decref(v);
        ck_assert_msg(strcmp(got, cases[i].repr) == 0, "%.17g: got %s, want %s", cases[i].x,
                      got, cases[i].repr);
        free(got);
    }
}
END_TEST

START_TEST(layout_is_indent_4_with_keys_in_insertion_order)
{
    /* json.dumps({"b": 1, "a": [], "c": {}, "z": [1, {"q": None, "k": True, "ü": False}]},
     *            indent=4) */
    json_t *v = json_loads("{\"b\": 1, \"a\": [], \"c\": {}, \"z\": [1, {\"q\": null, "
                           "\"k\": true, \"\xc3\xbc\": false}]}", 0, NULL);
    assert_dumps(v, "{\n"
                    "    \"b\": 1,\n"
                    "    \"a\": [],\n"
                    "    \"c\": {},\n"
                    "    \"z\": [\n"
                    "        1,\n"
                    "        {\n"
                    "            \"q\": null,\n"
                    "            \"k\": true,\n"
                    "            \"\\u00fc\": false\n"
                    "        }\n"
                    "    ]\n"
                    "}");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pyjson");
    TCase *tc = tcase_create("pyjson");
    tcase_add_test(tc, strings_escape_as_ensure_ascii_does);
    tcase_add_test(tc, reals_are_written_as_repr_writes_them);
    tcase_add_test(tc, layout_is_indent_4_with_keys_in_insertion_order);
    suite_add_tcase(s, tc);
    return check_run(s);
}
