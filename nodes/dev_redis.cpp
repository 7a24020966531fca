#include "nodes/dev_redis.hpp"

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache/redis_client.hpp"
#include "common/log.hpp"

extern char** environ;

namespace tasker {

namespace {

constexpr const char* component = "dev";

/// Whether Redis answers on the socket within `patience`.
bool answers(const std::string& socket, std::chrono::milliseconds patience) {
  redis_endpoint ep;
  ep.socket_path = socket;
  redis_client client{ep, std::chrono::milliseconds(200)};
  auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    try {
      client.ping();
      return true;
    } catch (const redis_error&) {
      if (std::chrono::steady_clock::now() >= deadline)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

/// The pid in a pid file (0: none).
int read_pid(const std::string& path) {
  std::ifstream in{path};
  int pid = 0;
  in >> pid;
  return in ? pid : 0;
}

} // namespace

dev_redis::dev_redis(const config& cfg)
  : dir_(std::filesystem::absolute(cfg.data_dir).lexically_normal().string()
         + "/redis") {}

std::string dev_redis::start() {
  namespace fs = std::filesystem;
  std::error_code err;
  fs::create_directories(dir_, err);
  if (err) {
    log::error(component, "cannot create the Redis dir",
               {{"dir", dir_}, {"error", err.message()}});
    return {};
  }
  auto socket = dir_ + "/redis.sock";
  auto pidfile = dir_ + "/redis.pid";
  auto url = "unix://" + socket;
  if (auto pid = read_pid(pidfile); pid > 0 && kill(pid, 0) == 0
                                    && answers(socket, std::chrono::milliseconds(500))) {
    log::info(component, "Redis is already running", {{"socket", socket}});
    pid_ = pid;
    return url;
  }
  std::vector<std::string> args{
    "redis-server",     "--port",         "0",
    "--unixsocket",     socket,           "--unixsocketperm",
    "700",              "--dir",          dir_,
    "--save",           "",               "--appendonly",
    "no",               "--daemonize",    "yes",
    "--pidfile",        pidfile,          "--logfile",
    dir_ + "/redis.log"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t child = 0;
  if (posix_spawnp(&child, argv[0], nullptr, nullptr, argv.data(), environ)
      != 0) {
    log::error(component, "cannot run redis-server (apt-get install "
                          "redis-server)");
    return {};
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0
      || !answers(socket, std::chrono::seconds(10))) {
    log::error(component, "Redis did not start (see its log)",
               {{"log", dir_ + "/redis.log"}});
    return {};
  }
  pid_ = read_pid(pidfile);
  log::info(component, "Redis started", {{"socket", socket}});
  return url;
}

dev_redis::~dev_redis() {
  if (pid_ <= 0)
    return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100 && kill(pid_, 0) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  log::info(component, "Redis stopped");
}

} // namespace tasker
