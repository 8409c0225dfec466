# Labels and timeouts of every ctest test (docs/testing.md).
#
# Each test carries exactly one label:
#   lint         checks of the project's own sources and scripts
#   unit         cmocka programs of pure logic (and the simulators' own rules)
#   component    one networked component in process (tests/component/)
#   integration  end-to-end scripts short enough for the quick path
#                (scripts/test.sh --quick), measured at most
#                PS_TEST_QUICK_SECONDS each
#   slow         the longer end-to-end scripts, and every script not yet
#                measured
#   fuzz         the fuzz targets run once over their kept inputs
#
# TIMEOUT is about three times the measured time, at least 30 s; a sanitizer
# build (PS_SANITIZE) doubles it, since ASan and UBSan slow every process.
# On a machine shared with other test runs, -DPS_TEST_TIMEOUT_SCALE=N
# multiplies every timeout by N.

set(PS_TEST_QUICK_SECONDS 5)
set(PS_TEST_MIN_TIMEOUT 30)
set(PS_TEST_TIMEOUT_SCALE 1 CACHE STRING "Multiply every test TIMEOUT by this whole number")
if(NOT PS_TEST_TIMEOUT_SCALE MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "PS_TEST_TIMEOUT_SCALE must be a whole number >= 1, not '${PS_TEST_TIMEOUT_SCALE}'")
endif()

# ps_test_timing(TEST LABEL SECONDS): LABEL and a TIMEOUT derived from
# SECONDS, the test's measured wall time.
function(ps_test_timing test label seconds)
    math(EXPR timeout "${seconds} * 3")
    if(timeout LESS PS_TEST_MIN_TIMEOUT)
        set(timeout ${PS_TEST_MIN_TIMEOUT})
    endif()
    if(PS_SANITIZE)
        math(EXPR timeout "${timeout} * 2")
    endif()
    math(EXPR timeout "${timeout} * ${PS_TEST_TIMEOUT_SCALE}")
    set_tests_properties(${test} PROPERTIES LABELS ${label} TIMEOUT ${timeout})
endfunction()
