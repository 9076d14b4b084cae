# sluice_install_static_library(<target> EXPORT_NAME <name>)
#
# Installs a static library of the tree into the Sluice CMake package (export set SluiceTargets),
# as Sluice::<name>, for find_package(Sluice) users (install component dev: package sluice-dev).
# Link sluice_build_options to such a target through $<BUILD_INTERFACE:...> only: it is not
# installed. A sanitized build (SLUICE_SANITIZE)
# installs sanitized code, so the installed target then links its users with the same runtime.
function(sluice_install_static_library target)
  cmake_parse_arguments(ARG "" "EXPORT_NAME" "" ${ARGN})
  if(NOT ARG_EXPORT_NAME)
    message(FATAL_ERROR "sluice_install_static_library(${target}): EXPORT_NAME is required")
  endif()
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${ARG_EXPORT_NAME})
  if(SLUICE_SANITIZE)
    target_link_options(${target} INTERFACE $<INSTALL_INTERFACE:-fsanitize=${SLUICE_SANITIZE}>)
  endif()
  install(TARGETS ${target} EXPORT SluiceTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
  # cmake/SluicePackaging.cmake strips their debug information when installing stripped (cpack).
  set_property(GLOBAL APPEND PROPERTY SLUICE_INSTALLED_STATIC_LIBRARIES ${target})
endfunction()
