/* tests/preload/test_cursor.c — the iovec cursor the stream engine reads
 * into and seals from (preload/pre_io_int.h; header-only, so nothing of the
 * preload is linked): room, puts across buffers, empty buffers skipped,
 * the room left, and that nothing is written past the program's buffers. */
#include <criterion/criterion.h>
#include <string.h>
#include "pre_io_int.h"

static const uint8_t src[] = "0123456789abcdefghij";

Test(cursor, put_spans_buffers_in_order)
{
	uint8_t a[3], b[4], c[5];
	struct iovec v[] = { { a, sizeof a }, { b, sizeof b }, { c, sizeof c } };
	struct cursor k = { v, 3, 0, 0 };

	cr_assert_eq(cur_left(&k), 12);
	cr_assert_eq(cur_put(&k, src, 5), 5);
	cr_assert_eq(cur_left(&k), 7);
	cr_assert_eq(cur_put(&k, src + 5, 20), 7, "only the room there is");
	cr_assert(cur_full(&k));
	cr_assert_eq(cur_left(&k), 0);
	cr_assert_eq(memcmp(a, "012", 3), 0);
	cr_assert_eq(memcmp(b, "3456", 4), 0);
	cr_assert_eq(memcmp(c, "789ab", 5), 0);
	cr_assert_eq(cur_put(&k, src, 1), 0, "a full cursor takes nothing");
}

Test(cursor, empty_buffers_are_skipped)
{
	uint8_t a[2], b[2], guard[4] = { 0xAA, 0xAA, 0xAA, 0xAA };
	struct iovec v[] = { { guard, 0 }, { a, sizeof a }, { guard, 0 }, { guard, 0 }, { b, sizeof b },
	                     { guard, 0 } };
	struct cursor k = { v, 6, 0, 0 };
	uint8_t *p = NULL;

	cr_assert(!cur_full(&k));
	cr_assert_eq(cur_room(&k, &p), 2);
	cr_assert_eq(p, a, "the first room is the first non-empty buffer");
	cr_assert_eq(cur_put(&k, src, 4), 4);
	cr_assert_eq(memcmp(a, "01", 2), 0);
	cr_assert_eq(memcmp(b, "23", 2), 0);
	cr_assert(cur_full(&k), "trailing empty buffers do not count as room");
	for (int i = 0; i < 4; i++)
		cr_assert_eq(guard[i], 0xAA, "nothing written through a zero-length buffer");
}

Test(cursor, room_is_the_rest_of_the_current_buffer)
{
	uint8_t a[8];
	struct iovec v[] = { { a, sizeof a } };
	struct cursor k = { v, 1, 0, 0 };
	uint8_t *p = NULL;

	k.off = 3;
	cr_assert_eq(cur_room(&k, &p), 5);
	cr_assert_eq(p, a + 3);
	cr_assert_eq(cur_left(&k), 5);
	k.off = 8;
	cr_assert_eq(cur_room(&k, &p), 0);
	cr_assert(cur_full(&k));
}

Test(cursor, no_buffers)
{
	struct cursor k = { NULL, 0, 0, 0 };
	uint8_t *p = NULL;

	cr_assert(cur_full(&k));
	cr_assert_eq(cur_room(&k, &p), 0);
	cr_assert_eq(cur_put(&k, src, 3), 0);
	cr_assert_eq(cur_left(&k), 0);
	cr_assert_eq(iov_total(NULL, 0), 0);
}

Test(cursor, iov_total_sums_every_buffer)
{
	uint8_t a[3], b[9];
	struct iovec v[] = { { a, sizeof a }, { b, 0 }, { b, sizeof b } };

	cr_assert_eq(iov_total(v, 3), 12);
}
