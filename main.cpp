// tasker: a distributed service that runs asynchronous tasks.
#include <iostream>
#include <string>
#include <vector>

#include "common/log.hpp"
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
  auto res = tasker::load_config(args, env);
  if (!res.help.empty()) {
    std::cout << res.help;
    return 0;
  }
  if (!res.error.empty()) {
    std::cerr << "tasker: " << res.error << "\n";
    return 2;
  }
  auto cfg = res.cfg;
  tasker::log::set_level(cfg.log_level);
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
