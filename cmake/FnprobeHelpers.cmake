# fnprobe_add_test(NAME SOURCES... [LIBS ...]): a GoogleTest binary registered
# with ctest. Tests receive FNPROBE_REFERENCE_DIR as a compile definition.
function(fnprobe_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} fnprobe_test_support
                        GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 900)
endfunction()

# fnprobe_add_bench(NAME SOURCES... [LIBS ...]): a Google Benchmark binary.
# Benchmarks print figures; they are not registered as pass/fail tests.
function(fnprobe_add_bench name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} benchmark::benchmark)
endfunction()
