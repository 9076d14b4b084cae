#include "test_plugins.hpp"

SLUICE_PLUGIN(sluice_test::ScriptedSink, "scripted", "1.0.0", "Test sink answering from a script",
              sluice_test::kScriptedSinkSchema)
