/* test_buf.c - the bounded reader and writer. */
#include "testutil.h"

#include <string.h>

#include "peerlink.h"
#include "util/buf.h"

static void reader_integers(void **state)
{
    (void)state;
    const uint8_t in[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    pl_rd r = pl_rd_init(in, sizeof in);
    assert_int_equal(pl_rd_u8(&r), 1);
    assert_int_equal(pl_rd_u16(&r), 0x0203);
    assert_int_equal(pl_rd_u32(&r), 0x04050607);
    assert_true(pl_rd_u64(&r) == 0x08090a0b0c0d0e0fULL);
    assert_true(pl_rd_finish(&r));
}

static void reader_sticky_error(void **state)
{
    (void)state;
    const uint8_t in[] = {0xff, 0xee, 0xdd};
    pl_rd r = pl_rd_init(in, sizeof in);
    assert_int_equal(pl_rd_u32(&r), 0); /* past the end */
    assert_false(pl_rd_ok(&r));
    assert_int_equal(pl_rd_u8(&r), 0); /* sticky: later reads fail too */
    assert_int_equal(pl_rd_left(&r), 0);
    assert_false(pl_rd_finish(&r));
    uint8_t out[2] = {7, 7};
    pl_rd_copy(&r, out, 2);
    assert_int_equal(out[0], 0);
    pl_span s = pl_rd_take(&r, 1);
    assert_null(s.p);
    assert_int_equal(pl_rd_peek(&r), -1);
}

static void reader_unconsumed_fails_finish(void **state)
{
    (void)state;
    pl_rd r = pl_rd_init("ab", 2);
    assert_int_equal(pl_rd_u8(&r), 'a');
    assert_false(pl_rd_finish(&r));
    /* a huge length never wraps around */
    pl_span s = pl_rd_take(&r, SIZE_MAX);
    assert_int_equal(s.len, 0);
    assert_false(pl_rd_ok(&r));
}

static void reader_text(void **state)
{
    (void)state;
    const char *t = "key=value;rest";
    pl_rd r = pl_rd_init(t, strlen(t));
    assert_false(pl_rd_accept(&r, "kez"));
    assert_true(pl_rd_ok(&r)); /* accept never sets the error */
    assert_true(pl_rd_accept(&r, "key"));
    pl_rd_expect(&r, "=");
    pl_span v = pl_rd_until(&r, ';');
    assert_true(pl_span_eq(v, "value"));
    assert_int_equal(pl_rd_peek(&r), ';');
    pl_rd_expect(&r, ";");
    pl_span rest = pl_rd_until(&r, ';'); /* no stop: takes the rest */
    assert_true(pl_span_eq(rest, "rest"));
    assert_true(pl_rd_finish(&r));
    pl_rd_expect(&r, "x");
    assert_false(pl_rd_ok(&r));
}

static void span_decimal(void **state)
{
    (void)state;
    uint64_t v;
    pl_span s;
#define SPAN(str) (s.p = (const uint8_t *)(str), s.len = strlen(str), s)
    assert_true(pl_span_u64(SPAN("0"), 10, &v) && v == 0);
    assert_true(pl_span_u64(SPAN("18446744073709551615"), UINT64_MAX, &v) && v == UINT64_MAX);
    assert_false(pl_span_u64(SPAN("18446744073709551616"), UINT64_MAX, &v));
    assert_false(pl_span_u64(SPAN("00"), 10, &v));
    assert_false(pl_span_u64(SPAN("01"), 10, &v));
    assert_false(pl_span_u64(SPAN("+1"), 10, &v));
    assert_false(pl_span_u64(SPAN("-1"), 10, &v));
    assert_false(pl_span_u64(SPAN(""), 10, &v));
    assert_false(pl_span_u64(SPAN("11"), 10, &v));
    assert_false(pl_span_u64(SPAN("1 "), 10, &v));
#undef SPAN
}

static void writer(void **state)
{
    (void)state;
    uint8_t buf[16];
    pl_wr w = pl_wr_init(buf, sizeof buf);
    pl_wr_u8(&w, 1);
    pl_wr_u16(&w, 0x0203);
    pl_wr_u32(&w, 0x04050607);
    pl_wr_u64(&w, 0x08090a0b0c0d0e0fULL);
    assert_int_equal(pl_wr_result(&w), 15);
    for (int i = 0; i < 15; i++)
        assert_int_equal(buf[i], i + 1);
    pl_wr_nul(&w);
    assert_int_equal(pl_wr_result(&w), 15);
    assert_int_equal(buf[15], 0);
    pl_wr_u16(&w, 1); /* does not fit: error, nothing written */
    assert_int_equal(pl_wr_result(&w), PL_ERR_BUFSIZE);
    pl_wr_u8(&w, 9); /* sticky */
    assert_int_equal(buf[15], 0);
    pl_wr full = pl_wr_init(buf, 3);
    pl_wr_str(&full, "abc");
    pl_wr_nul(&full); /* no room for the NUL */
    assert_int_equal(pl_wr_result(&full), PL_ERR_BUFSIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_integers),
        cmocka_unit_test(reader_sticky_error),
        cmocka_unit_test(reader_unconsumed_fails_finish),
        cmocka_unit_test(reader_text),
        cmocka_unit_test(span_decimal),
        cmocka_unit_test(writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
