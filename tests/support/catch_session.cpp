// Catch2's implementation, compiled once for every test binary (the unit and dataplane suites'
// mains call run_catch_session): it is the slowest file of the build to compile. It stays
// optimised, unlike the tests' own code: every assertion passes through it, and the connection
// table's test makes twenty million.
#define CATCH_CONFIG_RUNNER
#include "support/catch_session.hpp"

#include <catch2/catch.hpp>

int run_catch_session(int argc, char** argv) {
    return Catch::Session().run(argc, argv);
}
