/* Unit tests for worker/util.c: query strings, cookies, times, names. */

#include <string.h>

#include "tap.h"
#include "util.h"


static void
test_query(void)
{
    char     big[QUERY_MAX_LEN + 10];
    query_t  q;
    char     out[16];

    tap_is_int(query_parse(&q, "category=concert&x=a%20b+c&flag&=v&&y="), 0,
               "a query string parses");
    tap_is_int(q.n, 5, "five arguments (empty pairs skipped)");
    tap_is_str(query_get(&q, "category"), "concert", "plain value");
    tap_is_str(query_get(&q, "x"), "a b c", "%20 and + decode to spaces");
    tap_is_str(query_get(&q, "flag"), "", "a name without '=' is empty");
    tap_is_str(query_get(&q, ""), "v", "an empty name");
    tap_is_str(query_get(&q, "y"), "", "an empty value");
    tap_ok(query_get(&q, "nope") == NULL, "absent name");

    tap_is_int(query_parse(&q, NULL), 0, "NULL query");
    tap_is_int(q.n, 0, "has no arguments");
    tap_is_int(query_parse(&q, "a=%zz"), -1, "bad escape");
    tap_is_int(query_parse(&q, "a=%4"), -1, "truncated escape");
    tap_is_int(query_parse(&q, "a=%00"), -1, "encoded NUL");
    tap_is_int(query_parse(&q, "a=1&a=2"), 0, "repeated name");
    tap_is_str(query_get(&q, "a"), "1", "the first value wins");

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    tap_is_int(query_parse(&q, big), -1, "too long");
    tap_is_int(query_parse(&q, "a&b&c&d&e&f&g&h&i&j&k&l&m&n&o&p&q&r&s&t&u&v&w"
                               "&x&y&z&A&B&C&D&E&F&G"), -1, "too many");

    tap_is_int(url_decode(out, sizeof(out), "%41%62c", 7), 3, "url_decode");
    tap_is_str(out, "Abc", "decoded text");
    tap_is_int(url_decode(out, 3, "abcd", 4), -1, "output too small");
}


static void
test_cookie(void)
{
    const char  *v;
    size_t       len;

    tap_ok(cookie_find("a=1; ticket_session=abc.def; b=2", "ticket_session",
                       &v, &len) && len == 7 && strncmp(v, "abc.def", 7) == 0,
           "a cookie among others");
    tap_ok(cookie_find("ticket_session=x", "ticket_session", &v, &len)
           && len == 1, "the only cookie");
    tap_ok(!cookie_find("xticket_session=x", "ticket_session", &v, &len),
           "a longer name does not match");
    tap_ok(!cookie_find("ticket_sessionx=x", "ticket_session", &v, &len),
           "a name with a suffix does not match");
    tap_ok(!cookie_find(NULL, "ticket_session", &v, &len), "no header");
    tap_ok(cookie_find("a=1;ticket_session=y ;b", "ticket_session", &v, &len)
           && len == 1 && v[0] == 'y', "spaces trimmed");
}


static void
test_time(void)
{
    char    buf[32];
    time_t  t;

    tap_is_int(time_parse_iso8601("1970-01-01T00:00:00Z", &t), 0, "epoch");
    tap_is_int(t, 0, "is 0");
    tap_is_int(time_parse_iso8601("2027-06-01T19:30:00+09:00", &t), 0,
               "with an offset");
    time_format_sql(buf, sizeof(buf), t);
    tap_is_str(buf, "2027-06-01 10:30:00", "converted to UTC");
    tap_is_int(time_parse_iso8601("2027-06-01 10:30:00-02:30", &t), 0,
               "a space and a negative offset");
    time_format_sql(buf, sizeof(buf), t);
    tap_is_str(buf, "2027-06-01 13:00:00", "negative offset applied");
    tap_is_int(time_parse_iso8601("2028-02-29T00:00:00Z", &t), 0, "leap day");
    tap_is_int(time_parse_iso8601("2027-02-29T00:00:00Z", &t), -1,
               "not a leap year");
    tap_is_int(time_parse_iso8601("2027-13-01T00:00:00Z", &t), -1, "month 13");
    tap_is_int(time_parse_iso8601("2027-01-01T24:00:00Z", &t), -1, "hour 24");
    tap_is_int(time_parse_iso8601("2027-01-01T10:00:00", &t), -1, "no zone");
    tap_is_int(time_parse_iso8601("2027-01-01T10:00:00Zjunk", &t), -1,
               "trailing junk");
    tap_is_int(time_parse_iso8601("tomorrow", &t), -1, "words");
}


static void
test_names(void)
{
    int64_t  id;

    tap_ok(name_is_token("main-room_1", 64), "room name");
    tap_ok(!name_is_token("", 64), "empty");
    tap_ok(!name_is_token("a b", 64), "space");
    tap_ok(!name_is_token("abc", 2), "too long");

    tap_ok(email_is_valid("a@b.co"), "e-mail");
    tap_ok(!email_is_valid("a@b"), "no dot in the domain");
    tap_ok(!email_is_valid("@b.co"), "no local part");
    tap_ok(!email_is_valid("a@@b.co"), "two @");
    tap_ok(!email_is_valid("a b@c.co"), "space");
    tap_ok(!email_is_valid("a@b."), "trailing dot");

    tap_ok(parse_id("15000", 5, &id) == 0 && id == 15000, "an id");
    tap_ok(parse_id("0", 1, &id) != 0, "zero");
    tap_ok(parse_id("12a", 3, &id) != 0, "letters");
    tap_ok(parse_id("", 0, &id) != 0, "empty");
}


int
main(void)
{
    test_query();
    test_cookie();
    test_time();
    test_names();
    return tap_done();
}
