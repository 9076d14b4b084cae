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
