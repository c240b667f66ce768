/* Shared by the cmocka tests: every test ends with SILK_ASSERT_CLEAN(),
 * which proves no tracked object is alive and no counted byte is left. */
#ifndef SILK_TEST_H
#define SILK_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "silk/silk.h"

#define SILK_ASSERT_CLEAN()                                                                  \
    do {                                                                                     \
        if (silk_trackref_live_total() != 0)                                                 \
            silk_trackref_print(stderr, NULL);                                               \
        assert_int_equal(silk_trackref_live_total(), 0);                                     \
        assert_int_equal(silk_alloc_live_bytes(), 0);                                        \
        assert_int_equal(silk_alloc_live_count(), 0);                                        \
    } while (0)

/* Runs body with the 1st, 2nd, ... allocation failing until it succeeds
 * without an injected failure; body must return 0 on success and clean up
 * after itself on failure. Proves every error path frees what it took. */
#define SILK_FOR_EACH_ALLOC_FAILURE(body)                                                    \
    do {                                                                                     \
        for (uint64_t nth_ = 1; nth_ < 100000; nth_++) {                                     \
            silk_alloc_fail_nth(nth_);                                                       \
            int rc_ = (body);                                                                \
            int fired_ = silk_alloc_fail_fired();                                            \
            silk_alloc_fail_nth(0);                                                          \
            SILK_ASSERT_CLEAN();                                                             \
            if (!fired_) {                                                                   \
                assert_int_equal(rc_, 0);                                                    \
                break;                                                                       \
            }                                                                                \
        }                                                                                    \
    } while (0)

#endif
