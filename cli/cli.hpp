// The command-line client: `tasker submit`, `get`, `list`, `cancel`,
// `retry`, `events`, `workers`, `drain`, `types` and `help` talk to a running
// tasker over its HTTP API (docs/API.md) with libcurl. No CAF here: the
// client starts no actor system and these files compile fast.
#pragma once

#include <string>
#include <vector>

namespace tasker::cli {

/// Whether `args` (the arguments after the program name) name a client
/// command, possibly after the client's global options (`--url`, `--token`,
/// `--json`).
bool is_client_command(const std::vector<std::string>& args);

/// Runs a client command; returns the process's exit code (`exit_code` in
/// cli/parse.hpp). `env` holds the environment as `NAME=value` strings.
int run(const std::vector<std::string>& args,
        const std::vector<std::string>& env);

/// The client commands, their global options and the exit codes, for the
/// end of `tasker --help`.
std::string summary();

} // namespace tasker::cli
