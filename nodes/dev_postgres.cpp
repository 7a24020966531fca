#include "nodes/dev_postgres.hpp"

#include <cerrno>
#include <filesystem>
#include <vector>

#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/log.hpp"

extern char** environ;

namespace tasker {

namespace {

constexpr const char* component = "dev";

/// Runs a program and waits for it; returns its exit code (-1 if it could
/// not run). Output goes to `log_file` when given.
int run(std::vector<std::string> args, const std::string& log_file = {}) {
  if (geteuid() == 0)
    args.insert(args.begin(), {"runuser", "-u", "postgres", "--"});
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, log_file.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  pid_t pid = 0;
  auto rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string pg_bin(const char* tool) {
  for (auto dir : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                   "/usr/lib/postgresql/17/bin"}) {
    auto path = std::string{dir} + "/" + tool;
    if (access(path.c_str(), X_OK) == 0)
      return path;
  }
  return tool;
}

} // namespace

dev_postgres::dev_postgres(const config& cfg)
  : dir_(std::filesystem::absolute(cfg.data_dir).lexically_normal().string()
         + "/pg"),
    port_(cfg.dev_pg_port) {}

std::string dev_postgres::start() {
  namespace fs = std::filesystem;
  std::error_code err;
  fs::create_directories(dir_, err);
  if (err) {
    log::error(component, "cannot create the data dir",
               {{"dir", dir_}, {"error", err.message()}});
    return {};
  }
  if (geteuid() == 0) {
    // PostgreSQL refuses to run as root: the cluster belongs to `postgres`.
    auto pw = getpwnam("postgres");
    if (pw == nullptr) {
      log::error(component, "running as root needs the postgres user "
                            "(apt-get install postgresql-15)");
      return {};
    }
    for (auto& p : {fs::path{dir_}, fs::path{dir_}.parent_path()})
      if (chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        log::warning(component, "cannot hand the data dir to postgres",
                     {{"dir", p.string()}});
  }
  auto data = dir_ + "/data";
  // Output of initdb and pg_ctl (written by us) and the server's own log
  // (written by the postgres user) go to separate files.
  auto log_file = dir_ + "/tools.log";
  auto server_log = dir_ + "/postgresql.log";
  if (!fs::exists(data + "/PG_VERSION")) {
    log::info(component, "creating a PostgreSQL cluster", {{"dir", data}});
    if (run({pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres",
             "-E", "UTF8"}, log_file) != 0) {
      log::error(component, "initdb failed", {{"log", log_file}});
      return {};
    }
  }
  auto url = "postgresql://postgres@127.0.0.1:" + std::to_string(port_)
             + "/postgres";
  if (run({pg_bin("pg_ctl"), "-D", data, "status"}, log_file) == 0) {
    // Left running by an earlier `tasker dev` that was killed: reuse it.
    log::info(component, "PostgreSQL is already running", {{"dir", data}});
    started_ = true;
    return url;
  }
  auto opts = "-k " + dir_ + " -p " + std::to_string(port_)
              + " -c listen_addresses=127.0.0.1";
  if (run({pg_bin("pg_ctl"), "-D", data, "-l", server_log, "-w", "-t", "60",
           "-o", opts, "start"}, log_file) != 0) {
    log::error(component,
               "PostgreSQL did not start (is the port in use? see the log)",
               {{"log", server_log}, {"port", port_}});
    return {};
  }
  started_ = true;
  log::info(component, "PostgreSQL started", {{"port", port_}, {"dir", data}});
  return url;
}

dev_postgres::~dev_postgres() {
  if (!started_)
    return;
  run({pg_bin("pg_ctl"), "-D", dir_ + "/data", "-m", "fast", "-w", "stop"},
      dir_ + "/tools.log");
  log::info(component, "PostgreSQL stopped");
}

} // namespace tasker
