# sluice_add_plugin(NAME <name> SOURCES <files...> [LINK <targets...>])
#
# Builds a sluice plugin: a loadable module named sluice_<name> with hidden symbols except the
# entry point, linked to the SDK, placed where the sluice host looks for plugins and installed
# into <prefix>/lib/sluice/plugins.
function(sluice_add_plugin)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;LINK" ${ARGN})
  if(NOT ARG_NAME OR NOT ARG_SOURCES)
    message(FATAL_ERROR "sluice_add_plugin needs NAME and SOURCES")
  endif()
  set(target sluice_plugin_${ARG_NAME})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE Sluice::sdk ${ARG_LINK})
  if(TARGET sluice_build_options)
    target_link_libraries(${target} PRIVATE sluice_build_options)
  endif()
  set_target_properties(${target} PROPERTIES PREFIX "" OUTPUT_NAME sluice_${ARG_NAME}
                                             CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(SLUICE_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${SLUICE_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT SLUICE_INSTALL_PLUGIN_DIR)
    set(SLUICE_INSTALL_PLUGIN_DIR lib/sluice/plugins)
  endif()
  install(TARGETS ${target} LIBRARY DESTINATION ${SLUICE_INSTALL_PLUGIN_DIR})
endfunction()

# sluice_add_plugin_test(<plugin> EXECUTABLE <target> [SOURCES <files...>]
#                        (SUITES <doctest suites...> | TEST <name> [ARGS <arguments...>])
#                        [PLUGINS <more plugins...>] [LINK <targets...>] [DEFINITIONS <defs...>]
#                        [TIMEOUT <seconds>])
#
# A doctest executable that drives the built plugin (through Sluice::testing's Harness) and its
# ctest entries: one per SUITE, named <plugin>.<suite> and run with --test-suite=<suite>, or one
# named <plugin>.<TEST> run with ARGS. The first call for an EXECUTABLE creates it from SOURCES;
# later calls only add tests. The path of each plugin module (the plugin itself and every
# PLUGINS entry) is defined as <NAME>_SO (e.g. FILE_SO, HMC_STOMP_SO), and the executable is
# rebuilt after it. A suite or file filter that matches no test case fails instead of passing
# silently. One of SOURCES defines doctest's main (#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
# before #include <doctest/doctest.h>); inside the sluice tree, the tree's shared main
# (sluice_doctest_main, not installed) takes that place.
function(sluice_add_plugin_test plugin)
  cmake_parse_arguments(ARG "" "EXECUTABLE;TEST;TIMEOUT"
                        "SOURCES;SUITES;ARGS;PLUGINS;LINK;DEFINITIONS" ${ARGN})
  if(NOT ARG_EXECUTABLE OR (NOT ARG_SUITES AND NOT ARG_TEST))
    message(FATAL_ERROR "sluice_add_plugin_test(${plugin}) needs EXECUTABLE and SUITES or TEST")
  endif()
  if(NOT TARGET ${ARG_EXECUTABLE} AND NOT ARG_SOURCES)
    message(FATAL_ERROR "sluice_add_plugin_test(${plugin}): ${ARG_EXECUTABLE} needs SOURCES")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  set(target ${ARG_EXECUTABLE})
  if(NOT TARGET ${target})
    add_executable(${target} ${ARG_SOURCES})
    target_link_libraries(${target} PRIVATE Sluice::testing doctest::doctest ${ARG_LINK})
    if(TARGET sluice_build_options)
      target_link_libraries(${target} PRIVATE sluice_build_options)
    endif()
    # Inside the sluice tree only (its root CMakeLists.txt): doctest's main, compiled once.
    if(TARGET sluice_doctest_main)
      target_link_libraries(${target} PRIVATE sluice_doctest_main)
    endif()
    target_compile_definitions(${target} PRIVATE ${ARG_DEFINITIONS})
    foreach(module ${plugin} ${ARG_PLUGINS})
      string(TOUPPER ${module} macro)
      target_compile_definitions(${target} PRIVATE ${macro}_SO="$<TARGET_FILE:sluice_plugin_${module}>")
      add_dependencies(${target} sluice_plugin_${module})
    endforeach()
  endif()
  if(ARG_TEST)
    add_test(NAME ${plugin}.${ARG_TEST} COMMAND ${target} ${ARG_ARGS})
    set_tests_properties(${plugin}.${ARG_TEST} PROPERTIES FAIL_REGULAR_EXPRESSION "test cases: +0 \\|"
                                                          TIMEOUT ${ARG_TIMEOUT})
  endif()
  foreach(suite ${ARG_SUITES})
    add_test(NAME ${plugin}.${suite} COMMAND ${target} --test-suite=${suite})
    set_tests_properties(${plugin}.${suite} PROPERTIES FAIL_REGULAR_EXPRESSION "test cases: +0 \\|"
                                                       TIMEOUT ${ARG_TIMEOUT})
  endforeach()
endfunction()
