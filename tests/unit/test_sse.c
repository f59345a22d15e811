/* test_sse.c - SSE framing: every frame parses back to exactly what was framed, and no byte in a
 * value (CR, LF, NUL) can end a line early or inject a field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sse.h"

/* counts lines (LF, CR, CRLF all end a line, as in EventSource) */
static int count_lines(const char *p, size_t n)
{
    int lines = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r') {
            lines++;
            if (i + 1 < n && p[i + 1] == '\n')
                i++;
        } else if (p[i] == '\n') {
            lines++;
        }
    }
    return lines;
}

static void test_event_frame_has_id_event_data_and_blank_line(void **state)
{
    (void)state;
    fv_buf b = FV_BUF_INIT;
    assert_int_equal(fv_sse_event(&b, "v1.3.0.a", "task.completed", "{\"a\":1}", 7), FV_OK);
    assert_string_equal(b.data, "id: v1.3.0.a\nevent: task.completed\ndata: {\"a\":1}\n\n");
    fv_buf_free(&b);
}

static void test_event_frame_without_id_omits_the_id_line(void **state)
{
    (void)state;
    fv_buf b = FV_BUF_INIT;
    fv_sse_event(&b, NULL, "gap", "{}", 2);
    assert_string_equal(b.data, "event: gap\ndata: {}\n\n");
    fv_buf_free(&b);
}

static void test_multiline_data_stays_on_one_data_line(void **state)
{
    (void)state;
    const char data[] = "{\n  \"a\": 1,\r\n  \"b\": 2\r}";
    fv_buf b = FV_BUF_INIT;
    fv_sse_event(&b, NULL, "x", data, sizeof data - 1);
    /* event line, data line, blank line: exactly three line ends */
    assert_int_equal(count_lines(b.data, b.len), 3);
    assert_non_null(strstr(b.data, "data: {   \"a\": 1,    \"b\": 2 }\n\n"));
    fv_buf_free(&b);
}

static void test_nul_inside_data_does_not_cut_the_frame(void **state)
{
    (void)state;
    const char data[] = {'"', 'a', '\0', 'b', '"'};
    fv_buf b = FV_BUF_INIT;
    fv_sse_event(&b, NULL, "x", data, sizeof data);
    assert_int_equal(memchr(b.data, '\0', b.len), NULL);
    assert_string_equal(b.data, "event: x\ndata: \"a b\"\n\n");
    fv_buf_free(&b);
}

static void test_crlf_in_event_name_or_id_cannot_inject_a_field(void **state)
{
    (void)state;
    fv_buf b = FV_BUF_INIT;
    fv_sse_event(&b, "1\ndata: evil", "a\r\nevent: b", "1", 1);
    assert_int_equal(count_lines(b.data, b.len), 4); /* id, event, data, blank */
    assert_string_equal(b.data, "id: 1 data: evil\nevent: a  event: b\ndata: 1\n\n");
    fv_buf_free(&b);
}

static void test_null_data_is_sent_as_json_null(void **state)
{
    (void)state;
    fv_buf b = FV_BUF_INIT;
    fv_sse_event(&b, NULL, "x", NULL, 0);
    assert_string_equal(b.data, "event: x\ndata: null\n\n");
    fv_buf_free(&b);
}

static void test_retry_and_comment_frames(void **state)
{
    (void)state;
    fv_buf b = FV_BUF_INIT;
    fv_sse_retry(&b, 1500);
    fv_sse_comment(&b, "keep-alive");
    assert_string_equal(b.data, "retry: 1500\n\n: keep-alive\n\n");
    fv_buf_free(&b);
}

static void test_jitter_stays_within_half_of_the_base(void **state)
{
    (void)state;
    int lo = 1 << 30, hi = 0;
    for (int i = 0; i < 2000; i++) {
        int r = fv_sse_jitter(2000);
        assert_in_range(r, 1000, 3000);
        lo = r < lo ? r : lo;
        hi = r > hi ? r : hi;
    }
    assert_true(hi - lo > 1000); /* actually spread, not a constant */
}

static void test_error_kind_is_named_stream_error_on_the_wire(void **state)
{
    (void)state;
    assert_string_equal(fv_sse_kind_event_name(FV_KIND_ERROR), "stream_error");
    assert_string_equal(fv_sse_kind_event_name(FV_KIND_TOKEN), "token");
    assert_string_equal(fv_sse_kind_event_name(FV_KIND_PROGRESS), "progress");
    assert_string_equal(fv_sse_kind_event_name(FV_KIND_DATA), "data");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_frame_has_id_event_data_and_blank_line),
        cmocka_unit_test(test_event_frame_without_id_omits_the_id_line),
        cmocka_unit_test(test_multiline_data_stays_on_one_data_line),
        cmocka_unit_test(test_nul_inside_data_does_not_cut_the_frame),
        cmocka_unit_test(test_crlf_in_event_name_or_id_cannot_inject_a_field),
        cmocka_unit_test(test_null_data_is_sent_as_json_null),
        cmocka_unit_test(test_retry_and_comment_frames),
        cmocka_unit_test(test_jitter_stays_within_half_of_the_base),
        cmocka_unit_test(test_error_kind_is_named_stream_error_on_the_wire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
