# What `cmake --install` lays out beyond the targets, and the Debian packages CPack builds from it
# (docs/operations.md, "Install, packages and the service").
#
# Two install components, one package each:
#   daemon  (package sluice)      bin/sluice, lib/sluice/plugins/, the systemd unit and
#                                 sysusers.d file, the man page, bash completion, examples, docs
#   dev     (package sluice-dev)  headers, the CMake package, the fake servers (programs and
#                                 libraries) and the example plugin (sluice_hello)
# The top-level CMakeLists.txt sets CMAKE_INSTALL_DEFAULT_COMPONENT_NAME per folder (sdk/: dev;
# core/, plugins/: daemon), so install() calls elsewhere need not name a component.
#
# `cpack -G DEB` in a build folder packages that folder's binaries (stripped); dependencies come
# from the binaries through dpkg-shlibdeps. tests/integration/package_test.sh checks the result.

set(SLUICE_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)
set(pkg_out ${PROJECT_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${pkg_out})

# Files Debian wants compressed with `gzip -9n` (no name, no time: the same bytes every build):
# the man page and the Debian changelog. Made at configure time; a change of the source
# re-runs the configuration.
function(sluice_gzip_n source output)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${source})
  execute_process(COMMAND gzip -9nc ${source} OUTPUT_FILE ${output} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip -9n ${source} failed")
  endif()
endfunction()
sluice_gzip_n(${SLUICE_PACKAGING_DIR}/sluice.1 ${pkg_out}/sluice.1.gz)
sluice_gzip_n(${SLUICE_PACKAGING_DIR}/changelog ${pkg_out}/changelog.Debian.gz)

# --- component daemon (package sluice) --------------------------------------------------------

install(FILES ${pkg_out}/sluice.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT daemon)
install(FILES ${SLUICE_PACKAGING_DIR}/sluice.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME sluice
        COMPONENT daemon)
install(FILES ${SLUICE_PACKAGING_DIR}/sluice.sysusers DESTINATION lib/sysusers.d RENAME sluice.conf
        COMPONENT daemon)
# The unit names the installed executable and the pipeline file: both depend on the prefix of
# the installation (cpack installs to /usr, `cmake --install --prefix P` to P), known only then.
install(CODE "
  set(bindir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(confdir /etc/sluice)
  else()
    set(confdir \"\${CMAKE_INSTALL_PREFIX}/etc/sluice\")
  endif()
  file(READ \"${SLUICE_PACKAGING_DIR}/sluice.service\" unit)
  string(REPLACE \"/usr/bin/sluice\" \"\${bindir}/sluice\" unit \"\${unit}\")
  string(REPLACE \"/etc/sluice/\" \"\${confdir}/\" unit \"\${unit}\")
  # One folder per destination: installs into two places at once (cpack beside a test's
  # `cmake --install`) must not write each other's unit.
  string(MD5 dest \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
  file(WRITE \"${pkg_out}/unit-\${dest}/sluice.service\" \"\${unit}\")
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES \"${pkg_out}/unit-\${dest}/sluice.service\")
" COMPONENT daemon)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/sluice/examples
        COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/cli.md
              ${PROJECT_SOURCE_DIR}/docs/delivery.md ${PROJECT_SOURCE_DIR}/docs/events.md
              ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/docs/pipeline.md
              ${PROJECT_SOURCE_DIR}/docs/runtime.md ${PROJECT_SOURCE_DIR}/docs/security.md
              ${SLUICE_PACKAGING_DIR}/copyright ${pkg_out}/changelog.Debian.gz
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/sluice COMPONENT daemon)

# --- component dev (package sluice-dev) -------------------------------------------------------

install(FILES ${PROJECT_SOURCE_DIR}/docs/writing-plugins.md ${SLUICE_PACKAGING_DIR}/copyright
              ${pkg_out}/changelog.Debian.gz
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/sluice-dev COMPONENT dev)

# A stripped installation (cpack, `cmake --install --strip`) strips executables and plugins;
# CMake leaves static libraries alone, so their debug information goes here (as Debian's
# dh_strip does: `strip --strip-debug`, the symbol table stays).
get_property(static_libs GLOBAL PROPERTY SLUICE_INSTALLED_STATIC_LIBRARIES)
foreach(lib IN LISTS static_libs)
  install(CODE "
    if(CMAKE_INSTALL_DO_STRIP)
      execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:${lib}>\"
        COMMAND_ERROR_IS_FATAL ANY)
    endif()
  " COMPONENT dev)
endforeach()

# --- CPack: the Debian packages ---------------------------------------------------------------

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VENDOR "sluice")
set(CPACK_PACKAGE_CONTACT "sluice maintainers <maintainers@users.noreply.r-seed-a6f22936.example>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL daemon dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.org/sluice")

set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME sluice)
set(CPACK_DEBIAN_DAEMON_PACKAGE_SECTION admin)
# The postinst makes the user `sluice` with systemd-sysusers, or useradd where systemd is absent.
set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "systemd | passwd")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA ${SLUICE_PACKAGING_DIR}/postinst)
set(CPACK_COMPONENT_DAEMON_DESCRIPTION
    "event-subscription daemon for IBM Z HMC and LDoms events
sluice subscribes to IBM Z HMC notifications (STOMP over TLS) and to Oracle
VM Server for SPARC (LDoms) events (ldmd XML over XMPP), turns each into one
CloudEvents-shaped event and delivers it to stdout, files or webhooks, with
bounded queues, retries, a dead-letter file and an on-disk spool.

This package holds the daemon, its source and sink plugins, the systemd unit
sluice.service, the man page, bash completion and example pipelines.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME sluice-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "sluice (= ${PROJECT_VERSION}-1), nlohmann-json3-dev, libboost-dev, libssl-dev, libpugixml-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "SDK for sluice plugins, and fake HMC and ldmd servers for tests
The C plugin ABI header, the header-only C++ layer and test harness, the CMake
package (find_package(Sluice)), the fake HMC and fake ldmd servers (programs
sluice-fake-hmc and sluice-fake-ldmd, and libraries for tests) and the example
plugin sluice_hello.")
# Each component's description starts with its own summary line; CPack prepends
# CPACK_PACKAGE_DESCRIPTION_SUMMARY to it unless that is CPack's default, so keep the default.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_NAME} built using CMake")

include(CPack)
