# sluice_add_fuzzer(<target> TEST <ctest name> SOURCES <files...> [LINK <libs...>]
#                   [INCLUDE <dirs...>] [DEFINITIONS <defs...>] [ARGS <libFuzzer options...>]
#                   [SEEDS <dir>])
#
# A libFuzzer executable (clang, -DSLUICE_BUILD_FUZZERS=ON) built with AddressSanitizer and
# UndefinedBehaviorSanitizer, and a ctest entry labelled `fuzz` that fuzzes it for 20 s from the
# committed seeds (SEEDS, default ./corpus) while new inputs go to a work folder in the build
# tree. Put the code under test in SOURCES rather than LINK: only what is compiled here carries
# the coverage instrumentation the fuzzer steers by.
function(sluice_add_fuzzer target)
  cmake_parse_arguments(FUZZ "" "TEST;SEEDS" "SOURCES;LINK;INCLUDE;DEFINITIONS;ARGS" ${ARGN})
  if(NOT FUZZ_TEST OR NOT FUZZ_SOURCES)
    message(FATAL_ERROR "sluice_add_fuzzer(${target}): TEST and SOURCES are required")
  endif()
  if(NOT FUZZ_SEEDS)
    set(FUZZ_SEEDS ${CMAKE_CURRENT_SOURCE_DIR}/corpus)
  endif()
  add_executable(${target} ${FUZZ_SOURCES})
  target_include_directories(${target} PRIVATE ${FUZZ_INCLUDE})
  target_compile_definitions(${target} PRIVATE ${FUZZ_DEFINITIONS})
  target_link_libraries(${target} PRIVATE ${FUZZ_LINK} sluice_build_options)
  target_compile_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
  set(work ${CMAKE_CURRENT_BINARY_DIR}/${target}-corpus)
  file(MAKE_DIRECTORY ${work})
  add_test(NAME ${FUZZ_TEST}
           COMMAND ${target} -max_total_time=20 -timeout=10 -rss_limit_mb=2048 ${FUZZ_ARGS}
                   ${work} ${FUZZ_SEEDS})
  set_tests_properties(${FUZZ_TEST} PROPERTIES LABELS fuzz TIMEOUT 120)
endfunction()
