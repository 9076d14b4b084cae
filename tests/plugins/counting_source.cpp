#include "test_plugins.hpp"

SLUICE_PLUGIN(sluice_test::CountingSource, "counting", "1.0.0", "Test source emitting 1..count",
              sluice_test::kCountingSourceSchema)
