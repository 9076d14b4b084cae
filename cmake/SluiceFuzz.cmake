# sluice_add_fuzzer(<target> TEST <ctest name> SOURCES <files...> [LINK <libs...>]
#                   [INCLUDE <dirs...>] [DEFINITIONS <defs...>] [ARGS <libFuzzer options...>]
#                   [SEEDS <dir>])
#
# A libFuzzer executable (clang, -DSLUICE_BUILD_FUZZERS=ON) built with AddressSanitizer and
# UndefinedBehaviorSanitizer, and a ctest entry labelled `fuzz` that fuzzes it for 20 s from the
# committed seeds (SEEDS, default ./corpus) while new inputs go to a work folder in the build
# tree. Put the code under test in SOURCES rather than LINK: only what is compiled here carries
# the coverage instrumentation the fuzzer steers by.
#
# SLUICE_FUZZ_OPTIMIZE=ON compiles the fuzz targets optimised, as libFuzzer recommends for long
# runs (-O1 -gline-tables-only as OSS-Fuzz builds, sanitizers kept), whatever CMAKE_BUILD_TYPE says; NDEBUG stays
# undefined, so assertions still check. scripts/fuzz-campaign.sh builds that way in its own
# folder; CI's short runs (scripts/test.sh, build/fuzz) keep the Debug build.
option(SLUICE_FUZZ_OPTIMIZE "Compile the fuzz targets with -O1 -gline-tables-only (the long campaign)"
       OFF)
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
  if(SLUICE_FUZZ_OPTIMIZE)
    # After the build type's flags on the command line, so these win over Debug's -O0 -g.
    target_compile_options(${target} PRIVATE -O1 -gline-tables-only -UNDEBUG)
  endif()
  target_link_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
  set(work ${CMAKE_CURRENT_BINARY_DIR}/${target}-corpus)
  file(MAKE_DIRECTORY ${work})
  add_test(NAME ${FUZZ_TEST}
           COMMAND ${target} -max_total_time=20 -timeout=10 -rss_limit_mb=2048 ${FUZZ_ARGS}
                   ${work} ${FUZZ_SEEDS})
  set_tests_properties(${FUZZ_TEST} PROPERTIES LABELS fuzz TIMEOUT 120)
endfunction()
