// tasker: a distributed service that runs asynchronous tasks.
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "config/config.hpp"
#include "nodes/coordinator.hpp"
#include "nodes/dev_postgres.hpp"
#include "nodes/dev_redis.hpp"

extern char** environ;

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> env;
  for (auto e = environ; *e != nullptr; ++e)
    env.emplace_back(*e);
  if (!args.empty() && (args[0] == "--version" || args[0] == "version")) {
    std::cout << tasker::version_string() << "\n";
    return 0;
  }
  // The commented config files of packaging/ (hidden: not in --help).
  if (!args.empty() && args[0] == "sample-config") {
    auto text = tasker::sample_config(args.size() == 2 ? args[1] : "");
    if (text.empty() || args.size() != 2) {
      std::cerr << "usage: tasker sample-config serve|worker\n";
      return 2;
    }
    std::cout << text;
    return 0;
  }
  // The client commands talk to a running tasker over HTTP: no config of
  // the server's, no actor system.
  if (tasker::cli::is_client_command(args))
    return tasker::cli::run(args, env);
  auto res = tasker::load_config(args, env);
  if (!res.help.empty()) {
    std::cout << res.help;
    if (!args.empty() && (args[0] == "-h" || args[0] == "--help"))
      std::cout << tasker::cli::summary();
    return 0;
  }
  if (!res.error.empty()) {
    std::cerr << "tasker: " << res.error << "\n";
    return 2;
  }
  auto cfg = res.cfg;
  tasker::log::set_level(cfg.log_level);
  tasker::log::set_format(cfg.log_format);
  int rc;
  if (cfg.command == "dev") {
    tasker::dev_postgres pg{cfg}; // stops PostgreSQL when it goes
    cfg.db_url = pg.start();
    if (cfg.db_url.empty())
      return 1;
    tasker::dev_redis redis{cfg}; // stops Redis when it goes
    if (cfg.dev_redis != 0) {
      cfg.redis_url = redis.start();
      if (cfg.redis_url.empty())
        return 1;
    }
    rc = tasker::run_coordinator(cfg);
  } else {
    rc = cfg.command == "worker" ? tasker::run_worker(cfg)
                                 : tasker::run_coordinator(cfg);
  }
  tasker::log::flush();
  return rc;
}
