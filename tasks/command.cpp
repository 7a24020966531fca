#include "tasks/command.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/format.hpp"

namespace tasker {

namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

/// How often a running program's deadline and cancel flag are looked at.
constexpr int poll_ms = 20;

/// A file descriptor, closed when it goes.
struct owned_fd {
  int fd = -1;
  owned_fd() = default;
  owned_fd(const owned_fd&) = delete;
  owned_fd& operator=(const owned_fd&) = delete;
  ~owned_fd() {
    reset();
  }
  void reset() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
};

/// Both ends of a pipe, close-on-exec (the child's end is dup2'ed).
bool make_pipe(owned_fd& read_end, owned_fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return false;
  read_end.fd = fds[0];
  write_end.fd = fds[1];
  return true;
}

/// `name` found as execvp would find it in the node's PATH; empty if not.
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    auto end = std::min(dirs.find(':', start), dirs.size());
    auto dir = dirs.substr(start, end - start);
    auto candidate = (dir.empty() ? std::string{"."} : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = end + 1;
  }
  return {};
}

/// Whether a string in `x` holds a NUL character (PostgreSQL's jsonb
/// refuses it).
bool holds_nul(const json& x) {
  if (x.is_string())
    return x.get_ref<const std::string&>().find('\0') != std::string::npos;
  if (x.is_array() || x.is_object())
    for (auto& [key, val] : x.items())
      if (key.find('\0') != std::string::npos || holds_nul(val))
        return true;
  return false;
}

/// Writes a message from the child (after vfork only system calls).
void child_says(const char* what) {
  auto ignored = ::write(2, what, std::strlen(what));
  (void) ignored;
}

/// What the child does between vfork and exec: only system calls, since
/// it runs in the node's memory (on the stack of the thread that started it,
/// which waits until the exec) while the node's other threads run on and may
/// hold any lock (malloc's among them).
[[noreturn]] void run_child(const char* program, char* const* argv,
                            char* const* envp, const char* cwd, int in,
                            int out, int err, const rlimit* cpu,
                            const rlimit* memory, int max_fd) {
  ::setpgid(0, 0);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0)
    ::_exit(127);
  // Nothing of the node (sockets, database connections) reaches the program
  // (closed one by one where the kernel lacks close_range).
  if (::close_range(3, ~0U, 0) != 0)
    for (int fd = 3; fd < max_fd; ++fd)
      ::close(fd);
  // The node blocks SIGTERM and SIGINT for its signal thread, and a mask
  // survives exec: the program gets the default mask and dispositions. (A
  // handler of the node must not run here, in the node's memory: every
  // caught signal goes back to its default first.)
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler != SIG_DFL
        && old.sa_handler != SIG_IGN)
      ::signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  if (cpu != nullptr && ::setrlimit(RLIMIT_CPU, cpu) != 0)
    child_says("tasker: cannot set the CPU limit\n");
  if (memory != nullptr && ::setrlimit(RLIMIT_AS, memory) != 0)
    child_says("tasker: cannot set the memory limit\n");
  if (*cwd != '\0' && ::chdir(cwd) != 0) {
    child_says("tasker: cannot change to the working directory\n");
    ::_exit(127);
  }
  ::execve(program, argv, envp);
  child_says("tasker: cannot execute the program\n");
  ::_exit(127);
}

/// Writes to the program's stdin. When it has closed it, the write fails
/// with EPIPE and raises SIGPIPE, which would end the node: the signal is
/// blocked in this thread meanwhile and taken if it came.
ssize_t write_quietly(int fd, const char* data, size_t size) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  auto n = ::write(fd, data, size);
  auto err = errno;
  if (n < 0 && err == EPIPE) {
    timespec zero{0, 0};
    ::sigtimedwait(&pipe_set, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}

/// Reads what `fd` has now; false at its end or on an error.
bool read_some(owned_fd& fd, std::string& into, size_t max) {
  char buf[65536];
  auto n = ::read(fd.fd, buf, std::min(sizeof(buf), max));
  if (n > 0) {
    into.append(buf, static_cast<size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return true;
  fd.reset();
  return false;
}

std::string tail_of(const std::string& errors) {
  auto text = errors.size() > command_error_tail
                ? errors.substr(errors.size() - command_error_tail)
                : errors;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.pop_back();
  return to_storable_text(text);
}

} // namespace

command_spec parse_command_spec(const json& js, const std::string& where) {
  auto refuse = [&](const std::string& key, const std::string& why) {
    throw std::invalid_argument(where + (key.empty() ? "" : "." + key) + " "
                                + why);
  };
  if (!js.is_object())
    refuse("", "must be an object with at least argv");
  static const char* known[] = {"argv",           "cwd",
                                "env",            "retry_exit_code",
                                "max_output_bytes", "max_cpu_seconds",
                                "max_memory_bytes", "kill_grace_ms"};
  for (auto& [key, val] : js.items())
    if (std::find(std::begin(known), std::end(known), key) == std::end(known))
      refuse(key, "is not a field of a command (fields: argv, cwd, env, "
                  "retry_exit_code, max_output_bytes, max_cpu_seconds, "
                  "max_memory_bytes, kill_grace_ms)");
  command_spec spec;
  auto strings = [&](const char* key, std::vector<std::string>& out) {
    auto& v = js[key];
    if (!v.is_array() || v.size() > 256
        || !std::all_of(v.begin(), v.end(), [](const json& x) {
             return x.is_string() && x.get_ref<const std::string&>().size() <= 4096
                    && x.get_ref<const std::string&>().find('\0')
                         == std::string::npos;
           }))
      refuse(key, "must be an array of at most 256 strings (each at most 4096 "
                  "bytes, without NUL)");
    out = v.get<std::vector<std::string>>();
  };
  if (!js.contains("argv"))
    refuse("argv", "is required: the program and its arguments");
  strings("argv", spec.argv);
  if (spec.argv.empty() || spec.argv[0].empty())
    refuse("argv", "must name a program");
  if (js.contains("env"))
    strings("env", spec.env);
  if (auto i = js.find("cwd"); i != js.end()) {
    if (!i->is_string() || i->get_ref<const std::string&>().find('\0')
                             != std::string::npos)
      refuse("cwd", "must be a path");
    spec.cwd = i->get<std::string>();
  }
  auto integer = [&](const char* key, int64_t lo, int64_t hi) {
    auto& v = js[key];
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi
        || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(hi)))
      refuse(key, "must be an integer between " + std::to_string(lo) + " and "
                    + std::to_string(hi));
    return v.get<int64_t>();
  };
  if (js.contains("retry_exit_code"))
    spec.retry_exit_code = static_cast<int>(integer("retry_exit_code", 1, 255));
  if (js.contains("max_output_bytes"))
    spec.max_output_bytes = static_cast<uint64_t>(
      integer("max_output_bytes", 0, 64 * 1024 * 1024));
  if (js.contains("max_cpu_seconds"))
    spec.max_cpu_seconds = integer("max_cpu_seconds", 1, 86400);
  if (js.contains("max_memory_bytes"))
    spec.max_memory_bytes = integer("max_memory_bytes", 1024 * 1024,
                                    int64_t{1} << 46);
  if (js.contains("kill_grace_ms"))
    spec.kill_grace_ms = integer("kill_grace_ms", 0, 600000);
  return spec;
}

handler_result run_command(const command_spec& spec, const std::string& type,
                           const json& params, const task_context& ctx) {
  auto program = find_program(spec.argv[0]);
  if (program.empty())
    return handler_result::failure("command not found: " + spec.argv[0]
                                     + " (not in the node's PATH)",
                                   false);
  // Everything the child needs is made before vfork (see run_child).
  std::vector<std::string> env;
  for (auto& name : spec.env)
    if (const char* value = std::getenv(name.c_str()))
      env.push_back(name + "=" + value);
  env.push_back("TASKER_TASK_ID=" + ctx.task_id);
  env.push_back("TASKER_TASK_TYPE=" + type);
  env.push_back("TASKER_ATTEMPT=" + std::to_string(ctx.attempt));
  auto args = spec.argv;
  std::vector<char*> argv, envp;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  rlimit cpu{}, memory{};
  if (spec.max_cpu_seconds) {
    cpu.rlim_cur = *spec.max_cpu_seconds;
    cpu.rlim_max = *spec.max_cpu_seconds + 1; // (SIGXCPU, then SIGKILL)
  }
  if (spec.max_memory_bytes)
    memory.rlim_cur = memory.rlim_max = *spec.max_memory_bytes;
  owned_fd in_r, in_w, out_r, out_w, err_r, err_w;
  if (!make_pipe(in_r, in_w) || !make_pipe(out_r, out_w)
      || !make_pipe(err_r, err_w))
    return handler_result::failure(std::string{"cannot start the command: "}
                                   + std::strerror(errno));
  auto input = params.dump(-1, ' ', false, json::error_handler_t::replace);
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  int max_fd = files.rlim_cur == RLIM_INFINITY || files.rlim_cur > 1 << 20
                 ? 1 << 20
                 : static_cast<int>(files.rlim_cur);
  auto started = clock_type::now();
  // vfork: the node's memory is not copied (fork's page tables cost several
  // times the program's own start).
  auto pid = ::vfork();
  if (pid < 0)
    return handler_result::failure(std::string{"cannot start the command: "}
                                   + std::strerror(errno));
  if (pid == 0)
    run_child(program.c_str(), argv.data(), envp.data(), spec.cwd.c_str(),
              in_r.fd, out_w.fd, err_w.fd,
              spec.max_cpu_seconds ? &cpu : nullptr,
              spec.max_memory_bytes ? &memory : nullptr, max_fd);
  ::setpgid(pid, pid); // (also in the child: whichever runs first)
  in_r.reset();
  out_w.reset();
  err_w.reset();
  for (auto fd : {in_w.fd, out_r.fd, err_r.fd})
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  size_t written = 0;
  std::string output, errors;
  uint64_t output_bytes = 0;
  auto deadline = ctx.timeout_ms > 0
                    ? started + std::chrono::milliseconds(ctx.timeout_ms)
                    : clock_type::time_point::max();
  std::string stopped; // why tasker stopped it, if it did
  bool retry_stopped = false;
  std::optional<clock_type::time_point> term_sent;
  bool killed = false;
  int status = 0;
  auto take_output = [&] {
    auto before = output.size();
    bool open = read_some(out_r, output,
                          spec.max_output_bytes + 1 - output.size());
    output_bytes += output.size() - before;
    if (output_bytes > spec.max_output_bytes && stopped.empty()) {
      stopped = "the command wrote more than "
                + std::to_string(spec.max_output_bytes) + " bytes to stdout";
      output.clear();
      out_r.reset();
    }
    return open;
  };
  auto take_errors = [&] {
    bool open = read_some(err_r, errors, 65536);
    if (errors.size() > 2 * command_error_tail)
      errors.erase(0, errors.size() - command_error_tail);
    return open;
  };
  for (;;) {
    pollfd fds[3];
    nfds_t n = 0;
    for (auto [fd, events] : {std::pair{in_w.fd, POLLOUT},
                              std::pair{out_r.fd, POLLIN},
                              std::pair{err_r.fd, POLLIN}})
      if (fd >= 0)
        fds[n++] = pollfd{fd, static_cast<short>(events), 0};
    ::poll(fds, n, poll_ms);
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0)
        continue;
      if (fds[i].fd == in_w.fd) {
        auto k = write_quietly(in_w.fd, input.data() + written,
                               input.size() - written);
        if (k > 0)
          written += static_cast<size_t>(k);
        if ((k < 0 && errno != EAGAIN && errno != EINTR)
            || written == input.size())
          in_w.reset(); // (all sent, or the program stopped reading)
      } else if (fds[i].fd == out_r.fd) {
        take_output();
      } else if (fds[i].fd == err_r.fd) {
        take_errors();
      }
    }
    auto reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid || (reaped < 0 && errno != EINTR))
      break;
    auto now = clock_type::now();
    if (stopped.empty() && ctx.cancelled()) {
      stopped = "the attempt was cancelled";
    } else if (stopped.empty() && now >= deadline) {
      stopped = "the command timed out after "
                + std::to_string(ctx.timeout_ms) + " ms";
      retry_stopped = true;
    }
    if (!stopped.empty() && !term_sent) {
      ::kill(-pid, SIGTERM);
      term_sent = now;
    }
    if (term_sent && !killed
        && now - *term_sent >= std::chrono::milliseconds(spec.kill_grace_ms)) {
      ::kill(-pid, SIGKILL);
      killed = true;
    }
  }
  // What its program left running in its group goes with it.
  ::kill(-pid, SIGKILL);
  // What it wrote before it ended is in the pipes still (a bounded
  // number of reads: a process that left its group may write on).
  for (int i = 0; i < 64 && (out_r.fd >= 0 || err_r.fd >= 0); ++i) {
    pollfd fds[2] = {{out_r.fd, POLLIN, 0}, {err_r.fd, POLLIN, 0}};
    if (::poll(fds, 2, 0) <= 0)
      break;
    if (fds[0].revents != 0)
      take_output();
    if (fds[1].revents != 0)
      take_errors();
  }
  auto tail = tail_of(errors);
  auto with_tail = [&](std::string what) {
    return tail.empty() ? what : what + ": " + tail;
  };
  if (!stopped.empty())
    return handler_result::failure(
      with_tail(stopped + (killed ? " (killed after the grace period)" : "")),
      retry_stopped);
  if (WIFSIGNALED(status))
    return handler_result::failure(
      with_tail("the command was killed by signal "
                + std::to_string(WTERMSIG(status))),
      false);
  auto code = WEXITSTATUS(status);
  if (code == spec.retry_exit_code)
    return handler_result::failure(
      with_tail("the command exited with " + std::to_string(code)), true);
  if (code != 0)
    return handler_result::failure(
      with_tail("the command exited with " + std::to_string(code)), false);
  if (output.find_first_not_of(" \t\r\n") == std::string::npos)
    return handler_result::success(nullptr);
  if (nests_deeper_than(output, 64))
    return handler_result::failure("the command's output nests deeper than "
                                   "64 levels",
                                   false);
  json result;
  try {
    result = json::parse(output);
  } catch (const json::exception& e) {
    return handler_result::failure(
      std::string{"the command's output is not JSON: "} + e.what(), false);
  }
  if (holds_nul(result))
    return handler_result::failure("the command's output holds a NUL "
                                   "character, which cannot be stored",
                                   false);
  return handler_result::success(std::move(result));
}

} // namespace tasker
