#pragma once

// Runs the tests Catch2 registered, with the command line's options; returns the exit status.
// Defined beside Catch2's implementation (catch_session.cpp), which the mains do not include:
// Catch::Session is declared only where the implementation is compiled.
int run_catch_session(int argc, char** argv);
