// Main of the unit tests (Catch2's implementation is tests/support/catch_session.cpp).
#include "support/catch_session.hpp"

int main(int argc, char** argv) {
    return run_catch_session(argc, argv);
}
