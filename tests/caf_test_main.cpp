// The main() of tasker's CAF unit tests.
#include <caf/test/unit_test_impl.hpp>
