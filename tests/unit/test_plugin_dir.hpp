// Where the core's purpose-built test plugins (tests/plugins) are built; SLUICE_TEST_PLUGIN_DIR is
// defined for the unit tests by tests/unit/CMakeLists.txt.
#pragma once

#include <string>

inline const std::string kTestPluginDir = SLUICE_TEST_PLUGIN_DIR;
